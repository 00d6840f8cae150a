namespace Supermachine.FileSystem;

/// <summary>The kinds of entry a root filesystem can hold.</summary>
internal enum FileSystemEntryType
{
    RegularFile,
    Directory,
    Symlink,
    /// <summary>Another name for an earlier regular file; <see cref="FileSystemEntry.LinkTarget"/> is that file's path.</summary>
    HardLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>
/// One entry of a root filesystem, the currency between the producers (OCI layer flattening, a
/// directory walk, a squashfs reader, the Dockerfile commit) and the consumers (the squashfs
/// writer, a directory extractor). Producers never need an extracted tree: content is opened on
/// demand through <see cref="OpenContent"/>.
/// </summary>
internal sealed record FileSystemEntry
{
    /// <summary>Path relative to the root, '/'-separated, no leading or trailing slash; "" is the root itself.</summary>
    public required string Path { get; init; }

    public required FileSystemEntryType Type { get; init; }

    /// <summary>Permission bits including setuid (04000), setgid (02000) and sticky (01000); no file-type bits.</summary>
    public int Mode { get; init; }

    public int Uid { get; init; }

    public int Gid { get; init; }

    /// <summary>Modification time in whole seconds since the Unix epoch.</summary>
    public long ModificationTime { get; init; }

    /// <summary>Size in bytes of a regular file's content; 0 for every other type.</summary>
    public long Size { get; init; }

    /// <summary>
    /// Symlink target as stored, or for <see cref="FileSystemEntryType.HardLink"/> the root-relative
    /// path of the linked file. A hard link may arrive before or after its target; consumers resolve
    /// links once the whole stream has been seen.
    /// </summary>
    public string? LinkTarget { get; init; }

    public int DeviceMajor { get; init; }

    public int DeviceMinor { get; init; }

    /// <summary>Extended attributes by full name (for example <c>security.capability</c>, <c>user.foo</c>).</summary>
    public IReadOnlyDictionary<string, byte[]> ExtendedAttributes { get; init; } = EmptyAttributes;

    /// <summary>
    /// Opens the content of a regular file; null for other types. Streaming producers (a layer read
    /// straight from a compressed tar) can only honour this while the consumer is at this entry, so
    /// consumers read the content when they receive the entry, before advancing the enumeration.
    /// </summary>
    public Func<Stream>? OpenContent { get; init; }

    /// <summary>The final path component ("" for the root).</summary>
    public string Name => Path.Length == 0 ? "" : Path[(Path.LastIndexOf('/') + 1)..];

    /// <summary>The parent's path ("" for top-level entries and for the root).</summary>
    public string ParentPath => Path.LastIndexOf('/') is var i && i >= 0 ? Path[..i] : "";

    private static readonly IReadOnlyDictionary<string, byte[]> EmptyAttributes = new Dictionary<string, byte[]>();
}
