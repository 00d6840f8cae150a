using Supermachine.FileSystem;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// A host-written layer being assembled (COPY, ADD, WORKDIR): placed entries plus the directories
/// that must be created for them, owned by <c>owner</c> (root when null). Directories the state
/// already has are never re-emitted, so their metadata in lower layers stays.
/// </summary>
internal sealed class LayerEntries(FilesystemView target, (int Uid, int Gid)? owner)
{
    private readonly SortedDictionary<string, FileSystemEntry> _entries = new(StringComparer.Ordinal);

    public IEnumerable<FileSystemEntry> Entries => _entries.Values;

    public bool IsEmittedDirectory(string path) => _entries.GetValueOrDefault(path)?.Type == FileSystemEntryType.Directory;

    /// <summary>
    /// The destination directory <paramref name="destination"/> as a real path (symlinks in the
    /// stage resolved), created with <paramref name="metadata"/> (or 0755) when it does not exist.
    /// </summary>
    public string Directory(string destination, FileSystemEntry? metadata)
    {
        string resolved = target.Resolve(destination);
        EnsureParents(resolved);
        if (resolved.Length > 0 && !target.IsDirectory(resolved) && !IsEmittedDirectory(resolved))
        {
            _entries[resolved] = new FileSystemEntry
            {
                Path = resolved,
                Type = FileSystemEntryType.Directory,
                Mode = metadata?.Mode ?? 0x1ED,
                Uid = owner?.Uid ?? 0,
                Gid = owner?.Gid ?? 0,
                ModificationTime = metadata?.ModificationTime ?? 0,
            };
        }
        return resolved;
    }

    /// <summary>A destination file path: its directory resolved and created, the name kept.</summary>
    public string FilePath(string destination)
    {
        int slash = destination.LastIndexOf('/');
        string parent = slash < 0 ? "" : Directory(destination[..slash], null);
        return CopyLayerBuilder.Join(parent, destination[(slash + 1)..]);
    }

    public void Add(FileSystemEntry entry)
    {
        EnsureParents(entry.Path);
        _entries[entry.Path] = entry;
    }

    private void EnsureParents(string path)
    {
        for (int slash = path.IndexOf('/'); slash > 0; slash = path.IndexOf('/', slash + 1))
        {
            string parent = path[..slash];
            if (!target.IsDirectory(parent) && !_entries.ContainsKey(parent))
            {
                _entries[parent] = new FileSystemEntry { Path = parent, Type = FileSystemEntryType.Directory, Mode = 0x1ED, Uid = owner?.Uid ?? 0, Gid = owner?.Gid ?? 0 };
            }
        }
    }
}
