using System.Text;
using System.Text.Json;

namespace Supermachine.Dockerfile.Parsing;

/// <summary>
/// Turns one joined instruction line into a <see cref="Node"/>: keyword, builder flags, then the
/// arguments, shaped per instruction the way BuildKit's line parsers shape them (JSON or shell
/// form, key/value pairs, whitespace lists, ONBUILD's nested instruction).
/// </summary>
internal static class LineParsers
{
    private delegate Node? ArgumentParser(string rest, char escapeToken, out bool isJson);

    private static readonly Dictionary<string, ArgumentParser> Dispatch = new(StringComparer.Ordinal)
    {
        ["add"] = MaybeJsonToList,
        ["arg"] = NameOrNameValue,
        ["cmd"] = MaybeJson,
        ["copy"] = MaybeJsonToList,
        ["entrypoint"] = MaybeJson,
        ["env"] = (string rest, char escape, out bool json) => { json = false; return NameValue(rest, "ENV", escape); },
        ["expose"] = WhitespaceDelimited,
        ["from"] = WhitespaceDelimited,
        ["healthcheck"] = HealthConfig,
        ["label"] = (string rest, char escape, out bool json) => { json = false; return NameValue(rest, "LABEL", escape); },
        ["maintainer"] = SingleString,
        ["onbuild"] = SubCommand,
        ["run"] = MaybeJson,
        ["shell"] = MaybeJson,
        ["stopsignal"] = SingleString,
        ["user"] = SingleString,
        ["volume"] = MaybeJsonToList,
        ["workdir"] = SingleString,
    };

    public static Node NodeFromLine(string line, char escapeToken)
    {
        var (command, flags, args) = SplitCommand(line, escapeToken);
        // Unknown instructions still parse (with no arguments); the instruction layer rejects them.
        ArgumentParser parse = Dispatch.TryGetValue(command.ToLowerInvariant(), out ArgumentParser? known) ? known : Ignore;
        Node? next = parse(args, escapeToken, out bool isJson);
        var node = new Node { Value = command, Original = line, Next = next, IsJson = isJson };
        node.Flags.AddRange(flags);
        return node;
    }

    private static (string Command, List<string> Flags, string Args) SplitCommand(string line, char escapeToken)
    {
        List<string> parts = GoQuote.SplitWhitespace(GoQuote.TrimSpace(line), 2);
        var flags = new List<string>();
        string args = "";
        if (parts.Count == 2)
        {
            args = ExtractBuilderFlags(parts[1], escapeToken, flags);
        }
        return (parts[0], flags, GoQuote.TrimSpace(args));
    }

    // Leading "--name[=value]" words become flags; the first word not starting with "--" (or a
    // lone "--") starts the arguments. Quotes inside a flag group text and are removed. The line
    // is walked rune by rune (BuildKit walks bytes and so mangles non-ASCII flag values; a rune
    // walk keeps them intact and never splits a surrogate pair).
    private static string ExtractBuilderFlags(string line, char escapeToken, List<string> words)
    {
        const int InSpaces = 0, InWord = 1, InQuote = 2;
        int phase = InSpaces;
        var word = new StringBuilder();
        int quote = 0;
        bool blankOk = false;
        int width = 0;
        for (int pos = 0; pos <= line.Length; pos += width)
        {
            int ch = 0;
            width = 1;
            if (pos != line.Length)
            {
                ch = GoQuote.RuneAt(line, pos, out width).Value;
            }
            if (phase == InSpaces)
            {
                if (pos == line.Length)
                {
                    break;
                }
                if (GoQuote.IsSpace(ch))
                {
                    continue;
                }
                if (ch != '-' || pos + 1 == line.Length || line[pos + 1] != '-')
                {
                    return line[pos..];
                }
                phase = InWord;
            }
            if (pos == line.Length)
            {
                string last = word.ToString();
                if (last != "--" && (blankOk || last.Length > 0))
                {
                    words.Add(last);
                }
                break;
            }
            if (phase == InWord)
            {
                if (GoQuote.IsSpace(ch))
                {
                    string current = word.ToString();
                    phase = InSpaces;
                    if (current == "--")
                    {
                        return line[pos..];
                    }
                    if (blankOk || current.Length > 0)
                    {
                        words.Add(current);
                    }
                    word.Clear();
                    blankOk = false;
                    continue;
                }
                if (ch is '\'' or '"')
                {
                    quote = ch;
                    blankOk = true;
                    phase = InQuote;
                    continue;
                }
                if (ch == escapeToken)
                {
                    if (pos + width == line.Length)
                    {
                        continue;
                    }
                    pos += width;
                    ch = GoQuote.RuneAt(line, pos, out width).Value;
                }
                word.AppendRune(new Rune(ch));
                continue;
            }
            // InQuote
            if (ch == quote)
            {
                phase = InWord;
                continue;
            }
            if (ch == escapeToken)
            {
                if (pos + width == line.Length)
                {
                    phase = InWord;
                    continue;
                }
                pos += width;
                ch = GoQuote.RuneAt(line, pos, out width).Value;
            }
            word.AppendRune(new Rune(ch));
        }
        return "";
    }

    private static Node? Ignore(string rest, char escapeToken, out bool isJson)
    {
        isJson = false;
        return new Node();
    }

    private static Node? SubCommand(string rest, char escapeToken, out bool isJson)
    {
        isJson = false;
        if (rest.Length == 0)
        {
            return null;
        }
        var holder = new Node();
        holder.Children.Add(NodeFromLine(rest, escapeToken));
        return holder;
    }

    /// <summary>
    /// Space-separated words where quotes group (and are kept, for later expansion) and the escape
    /// token keeps the next character in the word.
    /// </summary>
    internal static List<string> ParseWords(string rest, char escapeToken)
    {
        const int InSpaces = 0, InWord = 1, InQuote = 2;
        var words = new List<string>();
        int phase = InSpaces;
        int quote = 0;
        bool blankOk = false;
        var word = new StringBuilder();
        Rune[] runes = rest.EnumerateRunes().ToArray();
        for (int pos = 0; pos <= runes.Length; pos++)
        {
            int ch = pos != runes.Length ? runes[pos].Value : 0;
            if (phase == InSpaces)
            {
                if (pos == runes.Length)
                {
                    break;
                }
                if (GoQuote.IsSpace(ch))
                {
                    continue;
                }
                phase = InWord;
            }
            if (pos == runes.Length)
            {
                if (blankOk || word.Length > 0)
                {
                    words.Add(word.ToString());
                }
                break;
            }
            if (phase == InWord)
            {
                if (GoQuote.IsSpace(ch))
                {
                    phase = InSpaces;
                    if (blankOk || word.Length > 0)
                    {
                        words.Add(word.ToString());
                    }
                    word.Clear();
                    blankOk = false;
                    continue;
                }
                if (ch is '\'' or '"')
                {
                    quote = ch;
                    blankOk = true;
                    phase = InQuote;
                }
                if (ch == escapeToken)
                {
                    if (pos + 1 == runes.Length)
                    {
                        continue;
                    }
                    // Outside quotes the escape token and the escaped character both stay in the word.
                    word.AppendRune(new Rune(ch));
                    pos++;
                    ch = runes[pos].Value;
                }
                word.AppendRune(new Rune(ch));
                continue;
            }
            // InQuote
            if (ch == quote)
            {
                phase = InWord;
            }
            // Nothing can be escaped inside single quotes.
            if (ch == escapeToken && quote != '\'')
            {
                if (pos + 1 == runes.Length)
                {
                    phase = InWord;
                    continue;
                }
                pos++;
                word.AppendRune(new Rune(ch));
                ch = runes[pos].Value;
            }
            word.AppendRune(new Rune(ch));
        }
        return words;
    }

    // ENV and LABEL: either the legacy "KEY value with spaces" or "k=v k2=v2" pairs; each pair
    // becomes three nodes: key, value, and the separator ("=" or "" for the legacy form).
    private static Node? NameValue(string rest, string keyword, char escapeToken)
    {
        List<string> words = ParseWords(rest, escapeToken);
        if (words.Count == 0)
        {
            return null;
        }
        if (!words[0].Contains('=', StringComparison.Ordinal))
        {
            List<string> parts = GoQuote.SplitWhitespace(rest, 2);
            if (parts.Count < 2)
            {
                throw new DockerfileSyntaxException($"{keyword} must have two arguments");
            }
            return KeyValueNode(parts[0], parts[1], "");
        }
        Node? root = null;
        Node? previous = null;
        foreach (string word in words)
        {
            int eq = word.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                throw new DockerfileSyntaxException($"Syntax error - can't find = in {GoQuote.Quote(word)}. Must be of the form: name=value");
            }
            Node node = KeyValueNode(word[..eq], word[(eq + 1)..], "=");
            root ??= node;
            if (previous is not null)
            {
                previous.Next = node;
            }
            previous = node.Next!.Next;
        }
        return root;
    }

    private static Node KeyValueNode(string key, string value, string separator) =>
        new() { Value = key, Next = new Node { Value = value, Next = new Node { Value = separator } } };

    private static Node? Chain(IEnumerable<string> values)
    {
        Node? root = null;
        Node? previous = null;
        foreach (string value in values)
        {
            var node = new Node { Value = value };
            root ??= node;
            if (previous is not null)
            {
                previous.Next = node;
            }
            previous = node;
        }
        return root;
    }

    private static Node? NameOrNameValue(string rest, char escapeToken, out bool isJson)
    {
        isJson = false;
        return Chain(ParseWords(rest, escapeToken));
    }

    private static Node? WhitespaceDelimited(string rest, char escapeToken, out bool isJson)
    {
        isJson = false;
        return rest.Length == 0 ? null : Chain(GoQuote.SplitWhitespace(rest, -1));
    }

    private static Node? SingleString(string rest, char escapeToken, out bool isJson)
    {
        isJson = false;
        return rest.Length == 0 ? null : new Node { Value = rest };
    }

    private enum JsonOutcome
    {
        Parsed,
        NotJson,
    }

    // Exec form: a JSON array of strings. Anything that is not valid JSON falls back to shell
    // form; valid JSON with a non-string element is an error (as in BuildKit).
    private static JsonOutcome TryParseJson(string rest, out Node? node)
    {
        node = null;
        rest = GoQuote.TrimLeftSpace(rest);
        if (!rest.StartsWith('['))
        {
            return JsonOutcome.NotJson;
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(rest, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 10000 });
        }
        catch (JsonException)
        {
            return JsonOutcome.NotJson;
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return JsonOutcome.NotJson;
            }
            var values = new List<string>();
            foreach (JsonElement element in document.RootElement.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.String)
                {
                    throw new DockerfileSyntaxException("when using JSON array syntax, arrays must be comprised of strings only");
                }
                values.Add(element.GetString()!);
            }
            node = Chain(values);
            return JsonOutcome.Parsed;
        }
    }

    private static Node? MaybeJson(string rest, char escapeToken, out bool isJson)
    {
        isJson = false;
        if (rest.Length == 0)
        {
            return null;
        }
        if (TryParseJson(rest, out Node? node) == JsonOutcome.Parsed)
        {
            isJson = true;
            return node;
        }
        return new Node { Value = rest };
    }

    private static Node? MaybeJsonToList(string rest, char escapeToken, out bool isJson)
    {
        if (TryParseJson(rest, out Node? node) == JsonOutcome.Parsed)
        {
            isJson = true;
            return node;
        }
        return WhitespaceDelimited(rest, escapeToken, out isJson);
    }

    // HEALTHCHECK: the first word is the type (CMD or NONE), the rest is like CMD.
    private static Node? HealthConfig(string rest, char escapeToken, out bool isJson)
    {
        isJson = false;
        int separator = 0;
        while (separator < rest.Length && !GoQuote.IsSpace(GoQuote.RuneAt(rest, separator, out int width)))
        {
            separator += width;
        }
        int next = separator + GoQuote.LeadingSpaceLength(rest, separator);
        if (separator == 0)
        {
            return null;
        }
        Node? command = MaybeJson(rest[next..], escapeToken, out isJson);
        return new Node { Value = rest[..separator], Next = command };
    }
}
