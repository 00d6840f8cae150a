using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Planning;

namespace Supermachine.Dockerfile.Context;

/// <summary>A file, directory or symlink of the build context that a COPY/ADD selected.</summary>
/// <param name="Path">Relative to the context root, '/'-separated.</param>
/// <param name="Kind">'f' file, 'd' directory, 'l' symlink.</param>
/// <param name="Mode">Permission bits (rwx for owner/group/other plus setuid/setgid/sticky).</param>
/// <param name="Size">Bytes (files only).</param>
/// <param name="ContentDigest">sha256 of the content (files), or of the link target (symlinks); empty for directories.</param>
/// <param name="LinkTarget">The symlink target, or null.</param>
internal sealed record ContextEntry(string Path, char Kind, int Mode, long Size, string ContentDigest, string? LinkTarget);

/// <summary>
/// The build context directory seen through its <c>.dockerignore</c>: selects what a COPY/ADD
/// source names (a file, a directory with everything below it, or a wildcard pattern) and hashes
/// the selection for step cache keys. The hash covers path, type, permission bits, size, content
/// and link target, not times or ownership (COPY resets ownership; times do not change content).
/// </summary>
internal sealed class BuildContextDirectory
{
    private readonly DockerIgnore _ignore;
    private readonly Dictionary<string, string> _digestCache = new(StringComparer.Ordinal);
    private List<ContextEntry>? _entries;

    public BuildContextDirectory(string root, DockerIgnore? ignore = null)
    {
        Root = Path.GetFullPath(root);
        _ignore = ignore ?? DockerIgnore.Load(Path.Combine(Root, ".dockerignore"));
    }

    public string Root { get; }

    /// <summary>
    /// The context at <paramref name="root"/> with the ignore file BuildKit would use: a
    /// <c>&lt;Dockerfile name&gt;.dockerignore</c> next to the Dockerfile wins over the context's
    /// <c>.dockerignore</c>.
    /// </summary>
    public static BuildContextDirectory Open(string root, string? dockerfilePath = null)
    {
        if (dockerfilePath is not null)
        {
            string specific = dockerfilePath + ".dockerignore";
            if (File.Exists(specific))
            {
                return new BuildContextDirectory(root, DockerIgnore.Load(specific));
            }
        }
        return new BuildContextDirectory(root);
    }

    /// <summary>Every entry not ignored, sorted by path (ordinal).</summary>
    public IReadOnlyList<ContextEntry> Entries => _entries ??= Walk(hash: true);

    /// <summary>
    /// The entries <paramref name="sources"/> select, minus <paramref name="excludes"/> (COPY --exclude).
    /// A source that selects nothing is an error naming the Dockerfile line (SM2213).
    /// </summary>
    public IReadOnlyList<ContextEntry> Select(IEnumerable<string> sources, IEnumerable<string>? excludes = null, string dockerfile = "Dockerfile", int line = 0, string keyword = "COPY")
    {
        DockerIgnore exclude = DockerIgnore.FromPatterns(excludes ?? [], "--exclude");
        var selected = new SortedDictionary<string, ContextEntry>(StringComparer.Ordinal);
        foreach (string source in sources)
        {
            bool any = false;
            foreach (string root in MatchRoots(source, Entries.Select(e => e.Path)))
            {
                if (root.Length == 0)
                {
                    foreach (ContextEntry entry in Entries)
                    {
                        any |= Add(entry, entry.Path);
                    }
                    // The whole context is a valid source even when empty.
                    any = true;
                }
                else
                {
                    any |= AddTree(root);
                }
            }
            if (!any)
            {
                throw Errors.BuildSourceNotFound(dockerfile, line, keyword, source, Root);
            }
        }
        return selected.Values.ToList();

        bool AddTree(string root)
        {
            bool found = false;
            string prefix = root + "/";
            foreach (ContextEntry entry in Entries)
            {
                if (entry.Path == root)
                {
                    found |= Add(entry, null);
                }
                else if (entry.Path.StartsWith(prefix, StringComparison.Ordinal))
                {
                    found |= Add(entry, entry.Path[prefix.Length..]);
                }
            }
            return found;
        }

        // Excludes match relative to the source being copied (its contents, not the source itself).
        bool Add(ContextEntry entry, string? relative)
        {
            if (relative is not null && exclude.IsIgnored(relative))
            {
                return false;
            }
            selected[entry.Path] = entry;
            return true;
        }
    }

    /// <summary>
    /// The root paths a COPY/ADD source names among <paramref name="paths"/> (root-relative, '/'-separated):
    /// the cleaned path itself, every path a wildcard pattern matches (Go's filepath.Match rules, '*'
    /// within one component), or "" for the whole tree. Shared by the context and by COPY --from.
    /// </summary>
    public static IReadOnlyList<string> MatchRoots(string source, IEnumerable<string> paths)
    {
        string cleaned = GoPath.Clean("/" + source.Replace('\\', '/')).TrimStart('/');
        if (cleaned.Length == 0 || !HasWildcard(cleaned))
        {
            return [cleaned];
        }
        Regex pattern = WildcardToRegex(cleaned);
        return paths.Where(p => pattern.IsMatch(p)).ToList();
    }

    /// <summary>True when a source is a wildcard pattern (it may match several roots).</summary>
    public static bool HasWildcard(string path) => path.IndexOfAny(['*', '?', '[']) >= 0;

    /// <summary>
    /// <c>sha256:</c> digest of the selection of a COPY/ADD from the context (see <see cref="Select"/>).
    /// Same files, same digest; any change of a selected file's content, mode, name or presence
    /// changes it. Files outside the selection, ignored files and timestamps do not.
    /// </summary>
    public string HashSources(IEnumerable<string> sources, IEnumerable<string>? excludes = null, string dockerfile = "Dockerfile", int line = 0, string keyword = "COPY") =>
        Digest(Select(sources, excludes, dockerfile, line, keyword));

    /// <summary>The digest of a context COPY/ADD step's inputs.</summary>
    public string HashSources(CopyStep step, string dockerfile) =>
        HashSources(step.Sources.Where(s => !IsRemote(s)), step.Excludes, dockerfile, step.Instruction.Line, step.Instruction.Keyword.ToUpperInvariant());

    /// <summary>True for ADD sources fetched over the network (http(s) or git URLs); they are not context files.</summary>
    public static bool IsRemote(string source) =>
        source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
        || source.StartsWith("git@", StringComparison.Ordinal) || source.StartsWith("git://", StringComparison.OrdinalIgnoreCase);

    public static string Digest(IEnumerable<ContextEntry> entries)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (ContextEntry e in entries)
        {
            // One length-prefixed record per entry, so no two different selections serialize alike.
            string record = $"{e.Path.Length}:{e.Path}|{e.Kind}|{Convert.ToString(e.Mode, 8)}|{e.Size}|{e.ContentDigest}|{e.LinkTarget?.Length ?? -1}:{e.LinkTarget}\n";
            hash.AppendData(Encoding.UTF8.GetBytes(record));
        }
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    // Go's filepath.Match syntax over the whole relative path: '*' and '?' stay within one component.
    private static Regex WildcardToRegex(string pattern)
    {
        var regex = new StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            switch (c)
            {
                case '*':
                    regex.Append("[^/]*");
                    break;
                case '?':
                    regex.Append("[^/]");
                    break;
                case '[':
                    int close = pattern.IndexOf(']', i + 1);
                    if (close < 0)
                    {
                        regex.Append("\\[");
                        break;
                    }
                    string body = pattern[(i + 1)..close];
                    if (body.StartsWith('^') || body.StartsWith('!'))
                    {
                        body = "^" + body[1..];
                    }
                    regex.Append('[').Append(body.Replace("\\", "\\\\", StringComparison.Ordinal)).Append(']');
                    i = close;
                    break;
                case '\\' when i + 1 < pattern.Length:
                    regex.Append(Regex.Escape(pattern[++i].ToString()));
                    break;
                default:
                    regex.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        return new Regex(regex.Append("\\z").ToString(), RegexOptions.CultureInvariant);
    }

    /// <summary>
    /// Full paths of the files and symlinks a build may read (not ignored), without hashing them:
    /// the SDK's incremental check uses them as inputs.
    /// </summary>
    public IEnumerable<string> ListInputFiles() =>
        Walk(hash: false).Where(e => e.Kind != 'd').Select(e => Path.Combine(Root, e.Path));

    private List<ContextEntry> Walk(bool hash)
    {
        var entries = new List<ContextEntry>();
        try
        {
            WalkDirectory(new DirectoryInfo(Root), "", entries, hash);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Errors.BuildContextUnreadable(Root, "(walking the directory)", e.Message, cause: e);
        }
        entries.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return entries;
    }

    private void WalkDirectory(DirectoryInfo directory, string relative, List<ContextEntry> entries, bool hash)
    {
        foreach (FileSystemInfo info in directory.EnumerateFileSystemInfos())
        {
            string path = relative.Length == 0 ? info.Name : relative + "/" + info.Name;
            bool ignored = _ignore.IsIgnored(path);
            int mode = OperatingSystem.IsWindows() ? 0b110_100_100 : (int)info.UnixFileMode;
            if (info.LinkTarget is { } target)
            {
                if (!ignored)
                {
                    entries.Add(new ContextEntry(path, 'l', mode, 0, HashText(target), target));
                }
                continue;
            }
            if (info is DirectoryInfo sub)
            {
                if (!ignored)
                {
                    entries.Add(new ContextEntry(path, 'd', mode, 0, "", null));
                }
                // An ignored directory may still hold re-included paths ("!dir/keep").
                if (!ignored || _ignore.HasExceptions)
                {
                    WalkDirectory(sub, path, entries, hash);
                }
                continue;
            }
            if (!ignored && info is FileInfo file)
            {
                entries.Add(new ContextEntry(path, 'f', mode, file.Length, hash ? HashFile(file) : "", null));
            }
        }
    }

    private string HashFile(FileInfo file)
    {
        string cacheKey = $"{file.FullName}|{file.Length}|{file.LastWriteTimeUtc.Ticks}";
        if (_digestCache.TryGetValue(cacheKey, out string? digest))
        {
            return digest;
        }
        try
        {
            using FileStream stream = file.OpenRead();
            digest = Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Errors.BuildContextUnreadable(Root, file.FullName, e.Message, cause: e);
        }
        _digestCache[cacheKey] = digest;
        return digest;
    }

    private static string HashText(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
