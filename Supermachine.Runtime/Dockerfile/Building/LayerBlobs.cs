using System.Formats.Tar;
using System.Text;
using Supermachine.FileSystem;
using Supermachine.Oci.Storage;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// Puts a build step's layer into the content store as an uncompressed OCI layer tar (so its
/// digest is also its diff ID): either written here from entries (COPY, ADD, WORKDIR) or received
/// as a tar (a RUN's changes exported by the guest agent). The store writes it once to a temp file
/// and renames it under its digest, so a layer of any size costs no memory, and an interrupted
/// write leaves no blob.
/// </summary>
internal static class LayerBlobs
{
    public const string MediaType = "application/vnd.oci.image.layer.v1.tar";

    public static Task<ChainLayer> WriteAsync(ContentStore store, IAsyncEnumerable<FileSystemEntry> entries, CancellationToken cancellationToken) =>
        ImportAsync(store, async (spool, ct) =>
        {
            await using var writer = new TarWriter(spool, TarEntryFormat.Pax, leaveOpen: true);
            await foreach (FileSystemEntry entry in entries.WithCancellation(ct).ConfigureAwait(false))
            {
                if (ToTarEntry(entry) is not { } tarEntry)
                {
                    continue;
                }
                // Content is read now, while a streaming producer still has this entry current.
                Stream? content = entry.Type == FileSystemEntryType.RegularFile ? entry.OpenContent?.Invoke() : null;
                try
                {
                    if (content is not null)
                    {
                        tarEntry.DataStream = content;
                    }
                    await writer.WriteEntryAsync(tarEntry, ct).ConfigureAwait(false);
                }
                finally
                {
                    if (content is not null)
                    {
                        await content.DisposeAsync().ConfigureAwait(false);
                    }
                }
            }
        }, cancellationToken);

    /// <summary>Stores the tar <paramref name="write"/> produces under its digest.</summary>
    public static async Task<ChainLayer> ImportAsync(ContentStore store, Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        (string digest, long size) = await store.ImportAsync(write, cancellationToken).ConfigureAwait(false);
        return new ChainLayer(digest, digest, MediaType, size);
    }

    private static PaxTarEntry? ToTarEntry(FileSystemEntry entry)
    {
        (TarEntryType type, string name) = entry.Type switch
        {
            FileSystemEntryType.RegularFile => (TarEntryType.RegularFile, entry.Path),
            FileSystemEntryType.Directory => (TarEntryType.Directory, entry.Path + "/"),
            FileSystemEntryType.Symlink => (TarEntryType.SymbolicLink, entry.Path),
            FileSystemEntryType.HardLink => (TarEntryType.HardLink, entry.Path),
            FileSystemEntryType.CharacterDevice => (TarEntryType.CharacterDevice, entry.Path),
            FileSystemEntryType.BlockDevice => (TarEntryType.BlockDevice, entry.Path),
            FileSystemEntryType.Fifo => (TarEntryType.Fifo, entry.Path),
            // A socket is a live endpoint; tar has no type for it and an image never carries one.
            _ => (default, ""),
        };
        if (name.Length == 0 || entry.Path.Length == 0)
        {
            return null;
        }
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string key, byte[] value) in entry.ExtendedAttributes)
        {
            // System.Formats.Tar stores PAX values as text: only attributes that round-trip as UTF-8 travel.
            string text = Encoding.UTF8.GetString(value);
            if (Encoding.UTF8.GetBytes(text).AsSpan().SequenceEqual(value))
            {
                attributes["SCHILY.xattr." + key] = text;
            }
        }
        var tarEntry = new PaxTarEntry(type, name, attributes)
        {
            Mode = (UnixFileMode)(entry.Mode & 0xFFF),
            Uid = entry.Uid,
            Gid = entry.Gid,
            ModificationTime = DateTimeOffset.FromUnixTimeSeconds(entry.ModificationTime),
        };
        if (entry.Type is FileSystemEntryType.Symlink or FileSystemEntryType.HardLink)
        {
            tarEntry.LinkName = entry.LinkTarget ?? "";
        }
        if (entry.Type is FileSystemEntryType.CharacterDevice or FileSystemEntryType.BlockDevice)
        {
            tarEntry.DeviceMajor = entry.DeviceMajor;
            tarEntry.DeviceMinor = entry.DeviceMinor;
        }
        return tarEntry;
    }
}
