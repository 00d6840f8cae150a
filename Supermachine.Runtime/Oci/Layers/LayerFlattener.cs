using System.Formats.Tar;
using System.Runtime.CompilerServices;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Oci.Layers;

/// <summary>A layer blob to flatten: its file, and the digest it must have (null to skip the check).</summary>
public sealed record LayerInput(string Path, string? Digest);

public sealed class LayerFlattenerOptions
{
    public const long DefaultMaxLayerBytes = 16L << 30;

    /// <summary>Cap on one layer's decompressed size (SM2013 beyond it); default <c>SUPERMACHINE_MAX_LAYER_BYTES</c> or 16 GiB.</summary>
    public long MaxLayerBytes { get; init; } = FromEnvironment();

    /// <summary>Receives SM2015 warnings for entries that are skipped (path escapes, writes under symlinks, dangling hard links).</summary>
    public Action<string>? Warning { get; init; }

    private static long FromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable("SUPERMACHINE_MAX_LAYER_BYTES");
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultMaxLayerBytes;
        }
        return long.TryParse(text, out long value) && value > 0 ? value : throw Diagnostic.Error("SM2017", text);
    }
}

/// <summary>
/// Merges image layers into the final root filesystem as a stream of <see cref="FileSystemEntry"/>,
/// without extracting anything. Pass 1 reads only tar headers (layer by layer, applying
/// <c>.wh.NAME</c> whiteouts and <c>.wh..wh..opq</c> opaque directories to the layers below, type
/// changes, hard links) to learn which entries survive, checking each layer's digest on the way.
/// Then the stream yields every directory (parents first), then entries without content, then
/// pass 2 re-reads the layers that hold surviving files and yields each file while the consumer
/// can read its content, followed by the other names of that file as hard links.
/// Paths are unique in the stream; every path is confined to the root.
/// </summary>
public sealed class LayerFlattener
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    private readonly IReadOnlyList<LayerInput> _layers;
    private readonly string _imageName;
    private readonly LayerFlattenerOptions _options;

    public LayerFlattener(IReadOnlyList<LayerInput> layers, string imageName, LayerFlattenerOptions? options = null)
    {
        _layers = layers;
        _imageName = imageName;
        _options = options ?? new LayerFlattenerOptions();
    }

    /// <summary>The flattener for a pulled image's layers, in order.</summary>
    public static LayerFlattener For(PulledImage image, LayerFlattenerOptions? options = null) =>
        new(image.Layers.Select(l => new LayerInput(l.Path, l.Descriptor.Digest)).ToArray(), image.Source, options);

    public async IAsyncEnumerable<FileSystemEntry> FlattenAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var root = new Node("", null, new FileSystemEntry { Path = "", Type = FileSystemEntryType.Directory, Mode = 0x1ed }, -1, -1) { Implied = true };
        // Layers are scanned (decompressed, headers read, digest checked) in parallel, then applied in order.
        var scans = new LayerScan[_layers.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, _layers.Count),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken },
            async (i, ct) => scans[i] = await ScanLayerAsync(i, ct).ConfigureAwait(false)).ConfigureAwait(false);
        for (int i = 0; i < _layers.Count; i++)
        {
            Apply(root, i, scans[i]);
            scans[i] = null!;
        }

        // Collect the survivors: directories parent-first, content-less entries, and files grouped by inode.
        var directories = new List<(string Path, Node Node)>();
        var others = new List<(string Path, Node Node)>();
        var inodes = new Dictionary<Inode, List<(string Path, Node Node)>>();
        var stack = new Stack<(string Path, Node Node)>();
        stack.Push(("", root));
        while (stack.Count > 0)
        {
            var (path, node) = stack.Pop();
            switch (node.Entry.Type)
            {
                case FileSystemEntryType.Directory:
                    directories.Add((path, node));
                    foreach (Node child in node.Children!.Values.OrderByDescending(c => c.Name, StringComparer.Ordinal))
                    {
                        stack.Push((path.Length == 0 ? child.Name : path + "/" + child.Name, child));
                    }
                    break;
                case FileSystemEntryType.RegularFile or FileSystemEntryType.HardLink:
                    if (!inodes.TryGetValue(node.Inode!, out var names))
                    {
                        inodes[node.Inode!] = names = [];
                    }
                    names.Add((path, node));
                    break;
                default:
                    others.Add((path, node));
                    break;
            }
        }

        foreach (var (path, node) in directories)
        {
            yield return node.Entry with { Path = path };
        }
        foreach (var (path, node) in others)
        {
            yield return node.Entry with { Path = path };
        }

        // The file's first surviving name holds the content; if its original name was replaced, another name takes over.
        var wanted = new Dictionary<(int Layer, int Ordinal), (Inode Inode, string Primary, List<string> Links)>();
        foreach (var (inode, names) in inodes)
        {
            int primaryIndex = Math.Max(0, names.FindIndex(n => n.Node.Entry.Type == FileSystemEntryType.RegularFile));
            string primary = names[primaryIndex].Path;
            wanted[(inode.Layer, inode.Ordinal)] = (inode, primary, names.Where((_, k) => k != primaryIndex).Select(n => n.Path).ToList());
        }
        for (int layer = 0; layer < _layers.Count; layer++)
        {
            int remaining = wanted.Keys.Count(k => k.Layer == layer);
            if (remaining == 0)
            {
                continue;
            }
            await using Stream tar = OpenLayer(layer, out _);
            await using var reader = new TarReader(tar);
            int ordinal = -1;
            while (remaining > 0)
            {
                TarEntry? entry = await ReadEntryAsync(reader, layer, cancellationToken).ConfigureAwait(false);
                if (entry is null)
                {
                    throw Diagnostic.Error("SM2014", LayerName(layer), _imageName, "the layer changed between the two reads");
                }
                ordinal++;
                if (!wanted.TryGetValue((layer, ordinal), out var file))
                {
                    continue;
                }
                remaining--;
                Stream data = entry.DataStream ?? Stream.Null;
                yield return file.Inode.Entry with { Path = file.Primary, Size = entry.Length, OpenContent = () => new NonClosingStream(data) };
                foreach (string link in file.Links)
                {
                    yield return file.Inode.Entry with { Path = link, Type = FileSystemEntryType.HardLink, LinkTarget = file.Primary, Size = 0, OpenContent = null };
                }
            }
        }
    }

    private sealed record LayerScan(List<(int Ordinal, FileSystemEntry Entry)> Entries, List<(string Parent, string? Name)> Whiteouts, List<string> Warnings);

    private async Task<LayerScan> ScanLayerAsync(int layer, CancellationToken cancellationToken)
    {
        var entries = new List<(int Ordinal, FileSystemEntry Entry)>();
        var whiteouts = new List<(string Parent, string? Name)>(); // Name null: opaque
        var warnings = new List<string>();
        HashingReadStream hashing;
        await using (var tar = new PaxXattrSniffer(OpenLayer(layer, out hashing)))
        {
            await using var reader = new TarReader(tar, leaveOpen: true);
            int ordinal = -1;
            while (await ReadEntryAsync(reader, layer, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                ordinal++;
                if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
                {
                    continue;
                }
                string? path = NormalizePath(entry.Name, out string? problem);
                if (path is null)
                {
                    ScanWarn(warnings, entry.Name, layer, problem!);
                    continue;
                }
                string name = path[(path.LastIndexOf('/') + 1)..];
                string parent = path.Contains('/') ? path[..path.LastIndexOf('/')] : "";
                if (name == OpaqueMarker)
                {
                    whiteouts.Add((parent, null));
                    continue;
                }
                if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
                {
                    whiteouts.Add((parent, name[WhiteoutPrefix.Length..]));
                    continue;
                }
                FileSystemEntry? converted = Convert(entry, path, layer, tar.For(ordinal), warnings);
                if (converted is not null)
                {
                    entries.Add((ordinal, converted));
                }
            }
            string digest = await hashing.FinishAsync(cancellationToken).ConfigureAwait(false);
            if (_layers[layer].Digest is string expected && digest != expected)
            {
                throw Diagnostic.Error("SM2007", expected, _imageName, $"layer content whose digest is {digest}");
            }
        }
        return new LayerScan(entries, whiteouts, warnings);
    }

    private void Apply(Node root, int layer, LayerScan scan)
    {
        var (entries, whiteouts) = (scan.Entries, scan.Whiteouts);
        foreach (string warning in scan.Warnings)
        {
            _options.Warning?.Invoke(warning);
        }

        // Whiteouts hide what the layers below have; this layer's own entries are added after.
        foreach (var (parentPath, name) in whiteouts)
        {
            if (Find(root, parentPath) is { Children: { } children })
            {
                if (name is null)
                {
                    children.Clear();
                }
                else
                {
                    children.Remove(name);
                }
            }
        }

        foreach (var (ordinal, entry) in entries)
        {
            if (entry.Path.Length == 0)
            {
                if (entry.Type == FileSystemEntryType.Directory)
                {
                    root.Entry = entry;
                    root.Implied = false;
                }
                continue;
            }
            Node? parent = root;
            string[] parts = entry.Path.Split('/');
            for (int k = 0; k < parts.Length - 1 && parent is not null; k++)
            {
                if (!parent.Children!.TryGetValue(parts[k], out Node? next))
                {
                    string implied = string.Join('/', parts, 0, k + 1);
                    next = new Node(parts[k], parent, new FileSystemEntry { Path = implied, Type = FileSystemEntryType.Directory, Mode = 0x1ed, ModificationTime = entry.ModificationTime }, layer, -1) { Implied = true };
                    parent.Children[parts[k]] = next;
                }
                parent = next.Children is null ? null : next;
            }
            if (parent is null)
            {
                // Writing below a symlink would write wherever it points: refused, as in any safe extractor.
                Warn(entry.Path, layer, "a parent directory is a symlink or a file in the layers below");
                continue;
            }
            string name = parts[^1];
            parent.Children!.TryGetValue(name, out Node? existing);
            Node node;
            switch (entry.Type)
            {
                case FileSystemEntryType.Directory when existing?.Children is not null:
                    existing.Entry = entry;
                    existing.Implied = false;
                    continue;
                case FileSystemEntryType.Directory:
                    node = new Node(name, parent, entry, layer, ordinal) { Children = new(StringComparer.Ordinal) };
                    break;
                case FileSystemEntryType.RegularFile:
                    node = new Node(name, parent, entry, layer, ordinal) { Inode = new Inode(layer, ordinal, entry) };
                    break;
                case FileSystemEntryType.HardLink:
                    Node? target = Find(root, entry.LinkTarget!);
                    if (target?.Inode is null || ReferenceEquals(target, existing))
                    {
                        Warn(entry.Path, layer, $"the hard link's target '{entry.LinkTarget}' is not a regular file present at this layer");
                        continue;
                    }
                    node = new Node(name, parent, entry, layer, ordinal) { Inode = target.Inode };
                    break;
                default:
                    node = new Node(name, parent, entry, layer, ordinal);
                    break;
            }
            parent.Children[name] = node;
        }
    }

    private FileSystemEntry? Convert(TarEntry entry, string path, int layer, IReadOnlyDictionary<string, byte[]>? rawXattrs, List<string> warnings)
    {
        FileSystemEntryType? type = entry.EntryType switch
        {
            TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile => FileSystemEntryType.RegularFile,
            TarEntryType.Directory => FileSystemEntryType.Directory,
            TarEntryType.SymbolicLink => FileSystemEntryType.Symlink,
            TarEntryType.HardLink => FileSystemEntryType.HardLink,
            TarEntryType.CharacterDevice => FileSystemEntryType.CharacterDevice,
            TarEntryType.BlockDevice => FileSystemEntryType.BlockDevice,
            TarEntryType.Fifo => FileSystemEntryType.Fifo,
            _ => null,
        };
        if (type is null)
        {
            ScanWarn(warnings, path, layer, $"tar entry type {entry.EntryType} is not supported");
            return null;
        }
        string? linkTarget = null;
        if (type == FileSystemEntryType.Symlink)
        {
            // Stored as written: it is resolved inside the guest's root, never followed here.
            linkTarget = entry.LinkName;
        }
        else if (type == FileSystemEntryType.HardLink)
        {
            linkTarget = NormalizePath(entry.LinkName, out string? problem);
            if (linkTarget is null || linkTarget.Length == 0)
            {
                ScanWarn(warnings, path, layer, "its hard-link target " + (problem ?? "is the root"));
                return null;
            }
        }
        var posix = entry as PosixTarEntry;
        return new FileSystemEntry
        {
            Path = path,
            Type = type.Value,
            Mode = (int)entry.Mode & 0xfff,
            Uid = entry.Uid,
            Gid = entry.Gid,
            ModificationTime = entry.ModificationTime.ToUnixTimeSeconds(),
            Size = type == FileSystemEntryType.RegularFile ? entry.Length : 0,
            LinkTarget = linkTarget,
            DeviceMajor = posix?.DeviceMajor ?? 0,
            DeviceMinor = posix?.DeviceMinor ?? 0,
            ExtendedAttributes = ExtendedAttributes(entry, rawXattrs),
        };
    }

    // SCHILY.xattr.NAME carries raw bytes, which System.Formats.Tar decodes as UTF-8, so their raw
    // form comes from the sniffer; LIBARCHIVE.xattr.NAME carries base64, which survives decoding.
    private static IReadOnlyDictionary<string, byte[]> ExtendedAttributes(TarEntry entry, IReadOnlyDictionary<string, byte[]>? rawXattrs)
    {
        if (entry is not PaxTarEntry pax || pax.ExtendedAttributes.Count == 0)
        {
            return new Dictionary<string, byte[]>();
        }
        var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (key, value) in pax.ExtendedAttributes)
        {
            if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
            {
                string name = key["SCHILY.xattr.".Length..];
                result[name] = rawXattrs?.GetValueOrDefault(name) ?? Encoding.UTF8.GetBytes(value);
            }
            else if (key.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal))
            {
                try
                {
                    result[Uri.UnescapeDataString(key["LIBARCHIVE.xattr.".Length..])] = System.Convert.FromBase64String(value.PadRight((value.Length + 3) / 4 * 4, '='));
                }
                catch (FormatException)
                {
                }
            }
        }
        return new Dictionary<string, byte[]>(result, StringComparer.Ordinal);
    }

    /// <summary>Root-relative form of a tar member name, or null (with the reason) when it is absolute or climbs with "..".</summary>
    internal static string? NormalizePath(string name, out string? problem)
    {
        problem = null;
        if (name.StartsWith('/'))
        {
            problem = "an absolute path is outside the image root";
            return null;
        }
        var parts = new List<string>();
        foreach (string part in name.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                problem = "'..' would lead outside the image root";
                return null;
            }
            if (part.Contains('\0'))
            {
                problem = "the name contains a NUL character";
                return null;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    private static Node? Find(Node root, string path)
    {
        Node? node = root;
        if (path.Length == 0)
        {
            return root;
        }
        foreach (string part in path.Split('/'))
        {
            if (node?.Children is null || !node.Children.TryGetValue(part, out node))
            {
                return null;
            }
        }
        return node;
    }

    private Stream OpenLayer(int layer, out HashingReadStream hashing)
    {
        var file = new FileStream(_layers[layer].Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        byte[] magic = new byte[4];
        int n = file.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        file.Position = 0;
        hashing = new HashingReadStream(file);
        return LayerStreams.OpenDecompressed(hashing, magic.AsSpan(0, n), _options.MaxLayerBytes, LayerName(layer), _imageName);
    }

    private async Task<TarEntry?> ReadEntryAsync(TarReader reader, int layer, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
        }
        // System.Formats.Tar also throws OverflowException (a base-256 number or a time out of range) and
        // InvalidOperationException (a PAX header larger than it allows) on a malformed header (eng/fuzz.sh flattener).
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException or ArgumentException or IOException
                                       or OverflowException or InvalidOperationException)
        {
            throw Diagnostic.Error(ex, "SM2014", LayerName(layer), _imageName, ex.Message);
        }
    }

    private string LayerName(int layer) => $"{layer + 1}/{_layers.Count} ({_layers[layer].Digest ?? Path.GetFileName(_layers[layer].Path)})";

    // Scans run in parallel; their warnings are kept per layer and reported in layer order.
    private void ScanWarn(List<string> sink, string path, int layer, string reason) =>
        sink.Add(Diagnostic.Format("SM2015", path, LayerName(layer), _imageName, reason));

    private void Warn(string path, int layer, string reason) =>
        _options.Warning?.Invoke(Diagnostic.Format("SM2015", path, LayerName(layer), _imageName, reason));

    private sealed class Inode(int layer, int ordinal, FileSystemEntry entry)
    {
        public int Layer { get; } = layer;
        public int Ordinal { get; } = ordinal;
        public FileSystemEntry Entry { get; } = entry;
    }

    private sealed class Node(string name, Node? parent, FileSystemEntry entry, int layer, int ordinal)
    {
        public string Name { get; } = name;
        public Node? Parent { get; } = parent;
        public FileSystemEntry Entry { get; set; } = entry;
        public int Layer { get; } = layer;
        public int Ordinal { get; } = ordinal;
        public bool Implied { get; set; }
        public Inode? Inode { get; init; }
        public Dictionary<string, Node>? Children { get; set; } = entry.Type == FileSystemEntryType.Directory ? new(StringComparer.Ordinal) : null;
    }
}
