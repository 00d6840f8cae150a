using System.Text;
using System.Text.RegularExpressions;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Expansion;

namespace Supermachine.Dockerfile.Parsing;

/// <summary>The syntax tree of a Dockerfile and what was learned on the way.</summary>
/// <param name="Root">The root node; its children are the instructions in order.</param>
/// <param name="EscapeToken">The escape token in effect (<c>\</c>, or <c>`</c> after <c># escape=`</c>).</param>
/// <param name="Directives">Parser directives found at the top of the file.</param>
/// <param name="Warnings">Non-fatal findings (empty continuation lines), as BuildKit reports them.</param>
public sealed record DockerfileSyntax(Node Root, char EscapeToken, IReadOnlyList<ParserDirective> Directives, IReadOnlyList<string> Warnings)
{
    /// <summary>BuildKit's AST dump of the whole file (what <c>supermachine dockerfile parse</c> prints).</summary>
    public string Dump() => Root.Dump();
}

/// <summary>
/// Parses Dockerfile text into the syntax tree BuildKit's parser builds (frontend/dockerfile/parser):
/// parser directives, comments, line continuations with the escape token, empty continuation lines,
/// heredocs, and each instruction's argument shape. Instruction semantics are checked later by
/// <see cref="Instructions.InstructionParser"/>.
/// </summary>
public static partial class DockerfileParser
{
    private static readonly HashSet<string> HeredocInstructions = new(StringComparer.Ordinal) { "add", "copy", "run" };

    [GeneratedRegex(@"^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\z", RegexOptions.CultureInvariant)]
    private static partial Regex HeredocPattern();

    [GeneratedRegex(@"^\t+", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex LeadingTabs();

    /// <summary>Reads and parses a Dockerfile from disk.</summary>
    /// <exception cref="SupermachineException">SM2207 when the file cannot be read; SM2201/SM2202 for syntax errors.</exception>
    public static DockerfileSyntax ParseFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Diagnostic.Error(e, "SM2207", path, e.Message);
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses UTF-8 Dockerfile bytes (a leading byte-order mark is ignored).</summary>
    public static DockerfileSyntax Parse(byte[] content, string sourceName = "Dockerfile") =>
        Parse(new UTF8Encoding(false, false).GetString(content), sourceName);

    /// <summary>Parses Dockerfile text. <paramref name="sourceName"/> names the file in errors.</summary>
    /// <exception cref="SupermachineException">SM2201 (no instructions) or SM2202 (syntax error), naming the line.</exception>
    public static DockerfileSyntax Parse(string text, string sourceName = "Dockerfile")
    {
        var lines = new LineReader(text);
        var directiveParser = new DirectiveParser();
        var directives = new List<ParserDirective>();
        var warnings = new List<string>();
        char escape = '\\';
        var root = new Node { StartLine = -1 };
        var comments = new List<string>();
        int currentLine = 0;

        while (lines.TryRead(out string raw))
        {
            if (currentLine == 0 && raw.StartsWith('\uFEFF'))
            {
                raw = raw[1..];
            }
            if (IsComment(raw))
            {
                string comment = GoQuote.TrimSpace(GoQuote.TrimLeftSpace(raw)[1..]);
                if (comment.Length == 0)
                {
                    comments.Clear();
                }
                else
                {
                    comments.Add(comment);
                }
            }

            string processed;
            try
            {
                processed = ProcessLine(raw, stripLeftWhitespace: true, directiveParser, directives, ref escape, out bool isDirective);
                if (isDirective && comments.Count > 0)
                {
                    comments.RemoveAt(comments.Count - 1);
                }
            }
            catch (DockerfileSyntaxException e)
            {
                throw Diagnostic.Error("SM2202", sourceName, currentLine + 1, e.Message);
            }
            currentLine++;
            int startLine = currentLine;

            bool isEndOfLine = TrimContinuation(ref processed, escape);
            if (isEndOfLine && processed.Length == 0)
            {
                continue;
            }
            var joined = new StringBuilder(processed);
            bool hasEmptyContinuationLine = false;
            while (!isEndOfLine && lines.TryRead(out string continuation))
            {
                string part;
                try
                {
                    part = ProcessLine(continuation, stripLeftWhitespace: false, directiveParser, directives, ref escape, out _);
                }
                catch (DockerfileSyntaxException e)
                {
                    throw Diagnostic.Error("SM2202", sourceName, currentLine + 1, e.Message);
                }
                currentLine++;
                if (IsComment(continuation))
                {
                    continue;
                }
                if (GoQuote.TrimLeftSpace(TrimNewline(part)).Length == 0)
                {
                    hasEmptyContinuationLine = true;
                    continue;
                }
                isEndOfLine = TrimContinuation(ref part, escape);
                joined.Append(part);
            }

            string line = joined.ToString();
            if (hasEmptyContinuationLine)
            {
                warnings.Add($"Empty continuation line found in: {line}");
            }

            Node child;
            try
            {
                child = LineParsers.NodeFromLine(line, escape);
            }
            catch (DockerfileSyntaxException e)
            {
                throw Diagnostic.Error("SM2202", sourceName, startLine, e.Message);
            }
            child.PrevComment.AddRange(comments);

            if (CanContainHeredoc(child) && line.Contains("<<", StringComparison.Ordinal))
            {
                List<Heredoc> heredocs;
                try
                {
                    heredocs = HeredocsFromLine(line);
                }
                catch (Exception e) when (e is DockerfileSyntaxException or ShellExpansionException)
                {
                    throw Diagnostic.Error("SM2202", sourceName, startLine, e.Message);
                }
                foreach (Heredoc heredoc in heredocs)
                {
                    bool terminated = false;
                    var content = new StringBuilder(heredoc.Content);
                    while (lines.TryRead(out string body))
                    {
                        currentLine++;
                        string possibleTerminator = TrimNewline(body);
                        if (heredoc.Chomp)
                        {
                            possibleTerminator = possibleTerminator.TrimStart('\t');
                        }
                        if (possibleTerminator == heredoc.Name)
                        {
                            terminated = true;
                            break;
                        }
                        content.Append(body);
                    }
                    if (!terminated)
                    {
                        throw Diagnostic.Error("SM2202", sourceName, startLine, $"unterminated heredoc (no line '{heredoc.Name}' closes it before the end of the file)");
                    }
                    child.Heredocs.Add(heredoc with { Content = content.ToString() });
                }
            }

            child.StartLine = startLine;
            child.EndLine = currentLine;
            if (root.StartLine < 0)
            {
                root.StartLine = startLine;
            }
            root.EndLine = currentLine;
            root.Children.Add(child);
            comments.Clear();
        }

        if (root.StartLine < 0)
        {
            throw Diagnostic.Error("SM2201", sourceName, Math.Max(currentLine, 1));
        }
        return new DockerfileSyntax(root, escape, directives, warnings);
    }

    /// <summary>
    /// Parses a heredoc word such as <c>&lt;&lt;EOF</c>, <c>&lt;&lt;-"EOF"</c> or <c>3&lt;&lt;EOF</c>;
    /// null when <paramref name="word"/> is not one. The content is empty.
    /// </summary>
    /// <exception cref="ShellExpansionException">The delimiter cannot be lexed (see <see cref="ParseHeredocOrNull"/>).</exception>
    public static Heredoc? ParseHeredoc(string word)
    {
        Match match = HeredocPattern().Match(word);
        if (!match.Success)
        {
            return null;
        }
        _ = int.TryParse(match.Groups[1].Value, out int fd);
        bool chomp = match.Groups[2].Value == "-";
        string rest = match.Groups[3].Value;
        if (rest.Length == 0)
        {
            return null;
        }
        var empty = new Dictionary<string, string>();
        var lexer = new ShellLexer('\\') { SkipUnsetEnv = true };
        IReadOnlyList<string> words = lexer.ProcessWords(rest, empty);
        if (words.Count != 1)
        {
            return null;
        }
        lexer.RawQuotes = true;
        IReadOnlyList<string> rawWords = lexer.ProcessWords(rest, empty);
        if (rawWords.Count != words.Count)
        {
            throw new DockerfileSyntaxException($"internal lexing of heredoc produced inconsistent results: {rest}");
        }
        // A quote anywhere in the delimiter (<<"EOF", <<'EOF', <<E"O"F) means: do not expand the body.
        static int Quotes(string s) => s.Count(c => c is '\'' or '"');
        bool expand = Quotes(words[0]) == Quotes(rawWords[0]);
        return new Heredoc(words[0], fd, expand, chomp, "");
    }

    /// <summary>
    /// <see cref="ParseHeredoc"/> for callers that only ask "is this word a heredoc?" (COPY/ADD
    /// sources and destination, RUN's first word), like BuildKit's MustParseHeredoc: a word the
    /// shell lexer cannot read (an unclosed quote, a bad <c>${}</c>) is no heredoc.
    /// </summary>
    public static Heredoc? ParseHeredocOrNull(string word)
    {
        try
        {
            return ParseHeredoc(word);
        }
        catch (Exception e) when (e is ShellExpansionException or DockerfileSyntaxException)
        {
            return null;
        }
    }

    /// <summary>Removes leading tabs from every line (the body of a <c>&lt;&lt;-</c> heredoc).</summary>
    public static string ChompHeredocContent(string content) => LeadingTabs().Replace(content, "");

    private static List<Heredoc> HeredocsFromLine(string line)
    {
        var lexer = new ShellLexer('\\') { RawQuotes = true, RawEscapes = true, SkipUnsetEnv = true };
        IReadOnlyList<string> words;
        try
        {
            words = lexer.ProcessWords(line, new Dictionary<string, string>());
        }
        catch (ShellExpansionException)
        {
            // BuildKit ignores lexing failures here: the line simply has no heredocs.
            return [];
        }
        var docs = new List<Heredoc>();
        foreach (string word in words)
        {
            if (ParseHeredoc(word) is { } heredoc)
            {
                docs.Add(heredoc);
            }
        }
        return docs;
    }

    private static bool CanContainHeredoc(Node node)
    {
        if (node.Value.Equals("onbuild", StringComparison.OrdinalIgnoreCase) && node.Next is { Children.Count: > 0 } holder)
        {
            node = holder.Children[0];
        }
        return HeredocInstructions.Contains(node.Value.ToLowerInvariant()) && !node.IsJson;
    }

    private static string ProcessLine(string raw, bool stripLeftWhitespace, DirectiveParser parser, List<ParserDirective> directives, ref char escape, out bool isDirective)
    {
        string token = TrimNewline(raw);
        if (stripLeftWhitespace)
        {
            token = GoQuote.TrimLeftSpace(token);
        }
        isDirective = false;
        if (parser.ParseLine(token) is { } directive)
        {
            isDirective = true;
            if (directive.Name == "escape")
            {
                if (directive.Value is not ("`" or "\\"))
                {
                    throw new DockerfileSyntaxException($"invalid escape token '{directive.Value}' does not match ` or \\");
                }
                escape = directive.Value[0];
            }
            directives.Add(directive);
        }
        return IsComment(token) ? "" : token;
    }

    private static bool IsComment(string line)
    {
        string trimmed = GoQuote.TrimLeftSpace(line);
        return trimmed.Length > 0 && trimmed[0] == '#';
    }

    private static string TrimNewline(string s) => s.TrimEnd('\r', '\n');

    // The escape token as the last non-blank character continues the line, unless it is itself
    // escaped by the character before it (BuildKit's regex: ([^\\])\\[ \t]*$|^\\[ \t]*$).
    private static bool TrimContinuation(ref string line, char escape)
    {
        int end = line.Length;
        while (end > 0 && line[end - 1] is ' ' or '\t')
        {
            end--;
        }
        if (end == 0 || line[end - 1] != escape)
        {
            return true;
        }
        int escapeAt = end - 1;
        if (escapeAt == 0 || line[escapeAt - 1] != escape)
        {
            line = line[..escapeAt];
            return false;
        }
        return true;
    }

    /// <summary>Yields lines with their line endings, as BuildKit's scanner does.</summary>
    private sealed class LineReader(string text)
    {
        private int _position;

        public bool TryRead(out string line)
        {
            if (_position >= text.Length)
            {
                line = "";
                return false;
            }
            int newline = text.IndexOf('\n', _position);
            int end = newline < 0 ? text.Length : newline + 1;
            line = text[_position..end];
            _position = end;
            return true;
        }
    }
}
