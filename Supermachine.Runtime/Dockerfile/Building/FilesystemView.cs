using System.Text;
using Supermachine.FileSystem;
using Supermachine.Squashfs;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// Read access to a build state: what exists at a path (following symlinks inside the root, as a
/// container sees its own filesystem), the entries below a directory, and the user and group
/// databases COPY --chown and WORKDIR resolve names in. Through its squashfs image every file's
/// content is readable (a COPY --from source); a metadata view, made by flattening the chain
/// without compressing anything, knows every entry but holds only passwd and group (a COPY or
/// WORKDIR target), which is several times cheaper than writing the image.
/// </summary>
internal sealed class FilesystemView : IDisposable
{
    private const int MaxSymlinkHops = 40;
    private static readonly string[] UserDatabases = ["etc/passwd", "etc/group"];
    private readonly IDisposable? _reader;
    private readonly Dictionary<string, FileSystemEntry> _entries;

    private FilesystemView(IDisposable? reader, Dictionary<string, FileSystemEntry> entries)
    {
        _reader = reader;
        _entries = entries;
    }

    public static FilesystemView Open(string squashfsPath)
    {
        var reader = SquashfsReader.Open(squashfsPath);
        return new(reader, reader.ReadEntries().ToDictionary(e => e.Path, StringComparer.Ordinal));
    }

    /// <summary>The metadata view of <paramref name="entries"/> (a flattened chain); only passwd and group keep their content.</summary>
    public static async Task<FilesystemView> ReadMetadataAsync(IAsyncEnumerable<FileSystemEntry> entries, CancellationToken cancellationToken)
    {
        var byPath = new Dictionary<string, FileSystemEntry>(StringComparer.Ordinal);
        await foreach (FileSystemEntry entry in entries.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            Func<Stream>? content = null;
            if (entry.OpenContent is { } open && UserDatabases.Contains(entry.Path) && entry.Size <= 16 << 20)
            {
                using Stream stream = open();
                var copy = new MemoryStream();
                await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
                byte[] bytes = copy.ToArray();
                content = () => new MemoryStream(bytes, writable: false);
            }
            byPath[entry.Path] = entry with { OpenContent = content };
        }
        return new(null, byPath);
    }

    /// <summary>Every entry, keyed by root-relative path.</summary>
    public IReadOnlyDictionary<string, FileSystemEntry> Entries => _entries;

    /// <summary>
    /// <paramref name="path"/> with every symlink along it resolved inside the root ("" is the root);
    /// a missing component ends resolution there and the rest is kept as written.
    /// </summary>
    public string Resolve(string path, bool followLast = true)
    {
        var pending = new Stack<string>(Split(path).Reverse());
        var resolved = new List<string>();
        int hops = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }
                continue;
            }
            string candidate = string.Join('/', [.. resolved, part]);
            if ((pending.Count > 0 || followLast)
                && _entries.TryGetValue(candidate, out FileSystemEntry? entry)
                && entry.Type == FileSystemEntryType.Symlink
                && hops++ < MaxSymlinkHops)
            {
                string target = entry.LinkTarget ?? "";
                if (target.StartsWith('/'))
                {
                    resolved.Clear();
                }
                foreach (string p in Split(target).Reverse())
                {
                    pending.Push(p);
                }
                continue;
            }
            resolved.Add(part);
        }
        return string.Join('/', resolved);
    }

    /// <summary>The entry at <paramref name="path"/> after symlinks, or null.</summary>
    public FileSystemEntry? Find(string path, bool followLast = true) =>
        _entries.GetValueOrDefault(Resolve(path, followLast));

    public bool IsDirectory(string path) => Find(path)?.Type == FileSystemEntryType.Directory;

    /// <summary>The text of a regular file (passwd, group), or null when absent.</summary>
    public string? ReadText(string path)
    {
        if (Find(path) is not { Type: FileSystemEntryType.RegularFile, OpenContent: { } open })
        {
            return null;
        }
        using Stream stream = open();
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public void Dispose() => _reader?.Dispose();

    internal static IEnumerable<string> Split(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".");
}
