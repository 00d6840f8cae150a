using System.Runtime.CompilerServices;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Context;
using Supermachine.Dockerfile.Planning;
using Supermachine.FileSystem;
using Supermachine.Oci.Layers;

namespace Supermachine.Dockerfile.Building;

/// <summary>Where a COPY/ADD reads: the build context, or the filesystem of a stage or image.</summary>
internal sealed record CopySourceTree(BuildContextDirectory? Context, FilesystemView? Filesystem);

/// <summary>
/// Turns a COPY or ADD into the entries of its layer, on the host, without a VM: the selected
/// sources re-rooted at the destination with Docker's rules (a directory source copies its
/// contents; a file goes into an existing directory, a path ending in '/', or one of several
/// sources, else it is the destination), parents that do not exist yet, --chown resolved in the
/// stage's own passwd/group, --chmod, and for ADD local tar archives extracted in place. Existing
/// directories along the way are not re-emitted, so their metadata in lower layers stays.
/// </summary>
internal static class CopyLayerBuilder
{
    public static async IAsyncEnumerable<FileSystemEntry> BuildAsync(
        CopyStep step,
        CopySourceTree sources,
        FilesystemView target,
        string dockerfile,
        string scratchDirectory,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        int line = step.Instruction.Line;
        string keyword = step.IsAdd ? "ADD" : "COPY";
        (int Uid, int Gid)? owner = step.Chown is { Length: > 0 } chown ? UserDatabase.ResolveChown(chown, target, dockerfile, line) : null;
        Func<int, bool, int> mode = step.Chmod is { Length: > 0 } chmod ? (m, isDirectory) => ChmodSpec.Apply(chmod, m, isDirectory) : (m, _) => m;

        bool intoDirectory = step.Destination.EndsWith('/')
            || step.Sources.Count + step.InlineSources.Count > 1
            || step.Sources.Any(BuildContextDirectory.HasWildcard);
        string destination = GoPath.Clean(step.Destination).TrimStart('/');
        var layer = new LayerEntries(target, owner);

        var archives = new List<(string File, string Directory)>();
        var downloads = new List<string>();
        try
        {
            foreach (string source in step.Sources)
            {
                if (BuildContextDirectory.IsRemote(source))
                {
                    (string file, string name, long mtime) = await RemoteFiles.DownloadAsync(source, step.Checksum, scratchDirectory, dockerfile, line, cancellationToken).ConfigureAwait(false);
                    downloads.Add(file);
                    var downloaded = new FileSystemEntry
                    {
                        Path = name,
                        Type = FileSystemEntryType.RegularFile,
                        Mode = 0x180, // 0600, as Docker gives files from URLs
                        Size = new FileInfo(file).Length,
                        ModificationTime = mtime,
                        OpenContent = () => File.OpenRead(file),
                    };
                    PlaceFile(new SourceRoot(name, downloaded, [], null, _ => null));
                    continue;
                }
                IReadOnlyList<SourceRoot> roots = sources.Context is { } context
                    ? ContextRoots(context, source, step.Excludes, dockerfile, line, keyword)
                    : FilesystemRoots(sources.Filesystem!, source, dockerfile, line, keyword);
                foreach (SourceRoot root in roots)
                {
                    if (root.Entry.Type == FileSystemEntryType.Directory)
                    {
                        string directory = layer.Directory(destination, root.Entry with { Mode = mode(root.Entry.Mode, true) });
                        foreach (FileSystemEntry child in root.Children)
                        {
                            layer.Add(Reroot(child, directory + "/" + child.Path, mode, owner, root, directory));
                        }
                    }
                    else if (step.IsAdd && step.Unpack != false && root.LocalPath is { } file && ArchiveDetector.Detect(file) is var kind && kind != AddSourceKind.PlainFile)
                    {
                        if (kind is AddSourceKind.TarBzip2 or AddSourceKind.TarXz)
                        {
                            throw Errors.AddArchiveUnsupported(dockerfile, line, root.Path, kind == AddSourceKind.TarBzip2 ? "bzip2" : "xz");
                        }
                        archives.Add((file, layer.Directory(destination, null)));
                    }
                    else
                    {
                        PlaceFile(root);
                    }
                }
            }
            foreach (InlineSource inline in step.InlineSources)
            {
                byte[] content = System.Text.Encoding.UTF8.GetBytes(inline.Content);
                string path = intoDirectory || target.IsDirectory(destination) ? layer.Directory(destination, null) + "/" + inline.Name : layer.FilePath(destination);
                layer.Add(new FileSystemEntry
                {
                    Path = path,
                    Type = FileSystemEntryType.RegularFile,
                    Mode = mode(0x1A4 /* 0644 */, false),
                    Uid = owner?.Uid ?? 0,
                    Gid = owner?.Gid ?? 0,
                    Size = content.Length,
                    OpenContent = () => new MemoryStream(content, writable: false),
                });
            }

            foreach (FileSystemEntry entry in layer.Entries)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return entry;
            }
            // Archives stream: each entry's content is readable only while it is current.
            foreach ((string file, string directory) in archives)
            {
                var flattener = new LayerFlattener([new LayerInput(file, null)], Path.GetFileName(file));
                await foreach (FileSystemEntry entry in flattener.FlattenAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (entry.Path.Length == 0)
                    {
                        continue;
                    }
                    yield return entry with
                    {
                        Path = Join(directory, entry.Path),
                        LinkTarget = entry.Type == FileSystemEntryType.HardLink ? Join(directory, entry.LinkTarget!) : entry.LinkTarget,
                    };
                }
            }
        }
        finally
        {
            foreach (string download in downloads)
            {
                File.Delete(download);
            }
        }

        // A file goes into an existing directory, a path ending in '/' or one of several sources; else it is the destination.
        void PlaceFile(SourceRoot root)
        {
            bool into = intoDirectory || target.IsDirectory(destination) || layer.IsEmittedDirectory(destination);
            string path = into ? layer.Directory(destination, null) + "/" + Name(root.Path) : layer.FilePath(destination);
            layer.Add(Reroot(root.Entry, path, mode, owner, root, null));
        }
    }

    private sealed record SourceRoot(string Path, FileSystemEntry Entry, IReadOnlyList<FileSystemEntry> Children, string? LocalPath, Func<string, FileSystemEntry?> Lookup);

    private static IReadOnlyList<SourceRoot> ContextRoots(BuildContextDirectory context, string source, IReadOnlyList<string> excludes, string dockerfile, int line, string keyword)
    {
        // Select checks that the source matches something and applies --exclude; the roots say how to place it.
        var selected = context.Select([source], excludes, dockerfile, line, keyword).ToDictionary(e => e.Path, StringComparer.Ordinal);
        var roots = new List<SourceRoot>();
        foreach (string root in BuildContextDirectory.MatchRoots(source, context.Entries.Select(e => e.Path)))
        {
            FileSystemEntry rootEntry = root.Length == 0
                ? new FileSystemEntry { Path = "", Type = FileSystemEntryType.Directory, Mode = 0x1ED }
                : selected.TryGetValue(root, out ContextEntry? e) ? Describe(context, e, e.Path) : null!;
            if (rootEntry is null)
            {
                continue;
            }
            string prefix = root.Length == 0 ? "" : root + "/";
            var children = selected.Values
                .Where(e => e.Path.StartsWith(prefix, StringComparison.Ordinal) && e.Path.Length > prefix.Length)
                .Select(e => Describe(context, e, e.Path[prefix.Length..]))
                .ToList();
            roots.Add(new SourceRoot(root, rootEntry, children, rootEntry.Type == FileSystemEntryType.RegularFile ? Path.Combine(context.Root, root) : null, _ => null));
        }
        return roots;
    }

    private static FileSystemEntry Describe(BuildContextDirectory context, ContextEntry entry, string path)
    {
        string full = Path.Combine(context.Root, entry.Path);
        return new FileSystemEntry
        {
            Path = path,
            Type = entry.Kind switch { 'd' => FileSystemEntryType.Directory, 'l' => FileSystemEntryType.Symlink, _ => FileSystemEntryType.RegularFile },
            Mode = entry.Mode,
            Size = entry.Kind == 'f' ? entry.Size : 0,
            LinkTarget = entry.LinkTarget,
            ModificationTime = new DateTimeOffset(File.GetLastWriteTimeUtc(full)).ToUnixTimeSeconds(),
            OpenContent = entry.Kind == 'f' ? () => File.OpenRead(full) : null,
        };
    }

    private static IReadOnlyList<SourceRoot> FilesystemRoots(FilesystemView filesystem, string source, string dockerfile, int line, string keyword)
    {
        var roots = new List<SourceRoot>();
        foreach (string match in BuildContextDirectory.MatchRoots(source, filesystem.Entries.Keys))
        {
            string root = filesystem.Resolve(match);
            if (filesystem.Entries.GetValueOrDefault(root) is not { } entry)
            {
                continue;
            }
            string prefix = root.Length == 0 ? "" : root + "/";
            var children = entry.Type != FileSystemEntryType.Directory ? [] : filesystem.Entries.Values
                .Where(e => e.Path.StartsWith(prefix, StringComparison.Ordinal) && e.Path.Length > prefix.Length)
                .OrderBy(e => e.Path, StringComparer.Ordinal)
                .Select(e => e with { Path = e.Path[prefix.Length..] })
                .ToList();
            roots.Add(new SourceRoot(root, entry, children, null, p => filesystem.Entries.GetValueOrDefault(p)));
        }
        if (roots.Count == 0)
        {
            throw Errors.BuildSourceNotFound(dockerfile, line, keyword, source, "the source stage");
        }
        return roots;
    }

    // A hard link whose first name is outside the copied tree becomes a copy of that file.
    private static FileSystemEntry Reroot(FileSystemEntry entry, string path, Func<int, bool, int> mode, (int Uid, int Gid)? owner, SourceRoot root, string? directory)
    {
        FileSystemEntry placed = entry with
        {
            Path = path,
            Mode = entry.Type == FileSystemEntryType.Symlink ? entry.Mode : mode(entry.Mode, entry.Type == FileSystemEntryType.Directory),
            Uid = owner?.Uid ?? entry.Uid,
            Gid = owner?.Gid ?? entry.Gid,
        };
        if (entry.Type != FileSystemEntryType.HardLink)
        {
            return placed;
        }
        string prefix = root.Path.Length == 0 ? "" : root.Path + "/";
        if (directory is not null && entry.LinkTarget!.StartsWith(prefix, StringComparison.Ordinal))
        {
            return placed with { LinkTarget = directory + "/" + entry.LinkTarget[prefix.Length..] };
        }
        FileSystemEntry original = root.Lookup(entry.LinkTarget!) ?? throw new InvalidOperationException($"hard link target '{entry.LinkTarget}' is missing");
        return original with { Path = path, Mode = placed.Mode, Uid = placed.Uid, Gid = placed.Gid };
    }

    private static string Name(string path) => path[(path.LastIndexOf('/') + 1)..];

    internal static string Join(string directory, string path) => directory.Length == 0 ? path : directory + "/" + path;
}
