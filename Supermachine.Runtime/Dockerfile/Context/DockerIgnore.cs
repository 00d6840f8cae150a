using System.Text;
using System.Text.RegularExpressions;
using Supermachine.Diagnostics;

namespace Supermachine.Dockerfile.Context;

/// <summary>
/// <c>.dockerignore</c> with Docker's rules (moby/patternmatcher): one pattern per line, <c>#</c>
/// comments at the start of a line, surrounding spaces trimmed, paths cleaned and a leading
/// <c>/</c> dropped; <c>*</c> and <c>?</c> stop at <c>/</c>, <c>**</c> spans directories,
/// <c>[a-z]</c> classes and <c>\</c> escapes; <c>!pattern</c> re-includes; the last matching
/// pattern wins; excluding a directory excludes everything below it unless a later
/// <c>!</c> pattern re-includes a path.
/// </summary>
internal sealed class DockerIgnore
{
    private readonly List<Pattern> _patterns;

    private DockerIgnore(List<Pattern> patterns)
    {
        _patterns = patterns;
    }

    /// <summary>No patterns: nothing is ignored.</summary>
    public static DockerIgnore Empty { get; } = new([]);

    /// <summary>The patterns as read (cleaned; exceptions keep their '!').</summary>
    public IReadOnlyList<string> Patterns => _patterns.Select(p => (p.Exclusion ? "!" : "") + p.Cleaned).ToList();

    /// <summary>True when some pattern re-includes paths (walkers must then look inside ignored directories).</summary>
    public bool HasExceptions => _patterns.Any(p => p.Exclusion);

    /// <summary>Reads <paramref name="path"/>, or returns <see cref="Empty"/> when it does not exist.</summary>
    public static DockerIgnore Load(string path) =>
        File.Exists(path) ? Parse(File.ReadAllText(path), path) : Empty;

    /// <summary>Parses .dockerignore text. <paramref name="sourceName"/> names the file in errors (SM2211).</summary>
    public static DockerIgnore Parse(string text, string sourceName = ".dockerignore")
    {
        var lines = new List<(string Pattern, int Line)>();
        string[] rawLines = text.Split('\n');
        for (int i = 0; i < rawLines.Length; i++)
        {
            string line = rawLines[i];
            if (i == 0 && line.StartsWith('\uFEFF'))
            {
                line = line[1..];
            }
            if (line.StartsWith('#'))
            {
                continue;
            }
            string pattern = line.Trim();
            if (pattern.Length == 0)
            {
                continue;
            }
            bool invert = pattern[0] == '!';
            if (invert)
            {
                pattern = pattern[1..].Trim();
            }
            if (pattern.Length > 0)
            {
                pattern = GoPath.Clean(pattern);
                if (pattern.Length > 1 && pattern[0] == '/')
                {
                    pattern = pattern[1..];
                }
            }
            lines.Add(((invert ? "!" : "") + pattern, i + 1));
        }
        return FromPatterns(lines, sourceName);
    }

    /// <summary>A matcher from patterns already split into lines (e.g. COPY --exclude values).</summary>
    public static DockerIgnore FromPatterns(IEnumerable<string> patterns, string sourceName = "patterns") =>
        FromPatterns(patterns.Select((p, i) => (p, i + 1)), sourceName);

    private static DockerIgnore FromPatterns(IEnumerable<(string Pattern, int Line)> patterns, string sourceName)
    {
        var compiled = new List<Pattern>();
        foreach (var (raw, line) in patterns)
        {
            string p = raw.Trim();
            if (p.Length == 0)
            {
                continue;
            }
            p = GoPath.Clean(p);
            bool exclusion = false;
            if (p[0] == '!')
            {
                if (p.Length == 1)
                {
                    throw Errors.DockerIgnorePatternInvalid(sourceName, line, raw, "a lone '!' excludes nothing");
                }
                exclusion = true;
                p = p[1..];
            }
            try
            {
                compiled.Add(Pattern.Compile(p, exclusion));
            }
            catch (ArgumentException e)
            {
                throw Errors.DockerIgnorePatternInvalid(sourceName, line, raw, e.Message);
            }
        }
        return new DockerIgnore(compiled);
    }

    /// <summary>
    /// True when <paramref name="path"/> (relative to the context root, '/'-separated) is ignored:
    /// the last pattern matching it or one of its parent directories decides.
    /// </summary>
    public bool IsIgnored(string path)
    {
        bool matched = false;
        string parentPath = GoPath.Dir(path);
        string[] parentDirs = parentPath.Split('/');
        foreach (Pattern pattern in _patterns)
        {
            // An inclusion can only change an unmatched path, an exception only a matched one.
            if (pattern.Exclusion != matched)
            {
                continue;
            }
            bool match = pattern.Matches(path);
            if (!match && parentPath != ".")
            {
                for (int i = 0; i < parentDirs.Length && !match; i++)
                {
                    match = pattern.Matches(string.Join('/', parentDirs, 0, i + 1));
                }
            }
            if (match)
            {
                matched = !pattern.Exclusion;
            }
        }
        return matched;
    }

    private enum MatchType
    {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }

    private sealed class Pattern
    {
        private Pattern(string cleaned, bool exclusion, MatchType type, Regex? regex)
        {
            Cleaned = cleaned;
            Exclusion = exclusion;
            Type = type;
            Regex = regex;
        }

        public string Cleaned { get; }

        public bool Exclusion { get; }

        private MatchType Type { get; }

        private Regex? Regex { get; }

        public static Pattern Compile(string pattern, bool exclusion)
        {
            var regex = new StringBuilder("^");
            MatchType type = MatchType.Exact;
            int[] runes = pattern.EnumerateRunes().Select(r => r.Value).ToArray();
            int pos = 0;
            int Peek() => pos < runes.Length ? runes[pos] : -1;
            for (int i = 0; pos < runes.Length; i++)
            {
                int ch = runes[pos++];
                if (ch == '*')
                {
                    if (Peek() == '*')
                    {
                        pos++;
                        // "**/" is "**".
                        if (Peek() == '/')
                        {
                            pos++;
                        }
                        if (Peek() == -1)
                        {
                            // A trailing "**" matches everything below.
                            if (type == MatchType.Exact)
                            {
                                type = MatchType.Prefix;
                            }
                            else
                            {
                                regex.Append(".*");
                                type = MatchType.Regex;
                            }
                        }
                        else
                        {
                            // Any number of directories, including none.
                            regex.Append("(.*/)?");
                            type = MatchType.Regex;
                        }
                        if (i == 0)
                        {
                            type = MatchType.Suffix;
                        }
                    }
                    else
                    {
                        regex.Append("[^/]*");
                        type = MatchType.Regex;
                    }
                }
                else if (ch == '?')
                {
                    regex.Append("[^/]");
                    type = MatchType.Regex;
                }
                else if (ch is '.' or '+' or '(' or ')' or '|' or '{' or '}' or '$')
                {
                    regex.Append('\\').Append((char)ch);
                }
                else if (ch == '\\')
                {
                    if (Peek() != -1)
                    {
                        regex.Append('\\').Append(char.ConvertFromUtf32(runes[pos++]));
                        type = MatchType.Regex;
                    }
                    else
                    {
                        regex.Append("\\\\");
                    }
                }
                else if (ch is '[' or ']')
                {
                    regex.Append((char)ch);
                    type = MatchType.Regex;
                }
                else
                {
                    // Everything else is taken as Go's regexp would (so '^' negates inside a class).
                    regex.Append(char.ConvertFromUtf32(ch));
                }
            }
            regex.Append("\\z");
            // Compiling always validates the pattern (an unclosed '[' is an error even where the
            // pattern would be matched without a regex).
            var compiled = new Regex(regex.ToString(), RegexOptions.CultureInvariant);
            return new Pattern(pattern, exclusion, type, type == MatchType.Regex ? compiled : null);
        }

        public bool Matches(string path) => Type switch
        {
            MatchType.Exact => path == Cleaned,
            MatchType.Prefix => path.StartsWith(Cleaned[..^2], StringComparison.Ordinal),
            MatchType.Suffix => SuffixMatches(path),
            _ => Regex!.IsMatch(path),
        };

        private bool SuffixMatches(string path)
        {
            string suffix = Cleaned[2..];
            if (path.EndsWith(suffix, StringComparison.Ordinal))
            {
                return true;
            }
            return suffix.Length > 0 && suffix[0] == '/' && path == suffix[1..];
        }
    }
}

/// <summary>Go's lexical path functions for '/'-separated paths.</summary>
internal static class GoPath
{
    public static string Clean(string path)
    {
        if (path.Length == 0)
        {
            return ".";
        }
        bool rooted = path[0] == '/';
        var parts = new List<string>();
        foreach (string part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count > 0 && parts[^1] != "..")
                {
                    parts.RemoveAt(parts.Count - 1);
                }
                else if (!rooted)
                {
                    parts.Add("..");
                }
                continue;
            }
            parts.Add(part);
        }
        string joined = string.Join('/', parts);
        return rooted ? "/" + joined : joined.Length == 0 ? "." : joined;
    }

    public static string Dir(string path)
    {
        int slash = path.LastIndexOf('/');
        return Clean(slash < 0 ? "" : path[..(slash + 1)]);
    }
}
