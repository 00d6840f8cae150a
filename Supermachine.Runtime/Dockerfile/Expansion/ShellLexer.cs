using System.Text;
using System.Text.RegularExpressions;
using Supermachine.Dockerfile.Parsing;

namespace Supermachine.Dockerfile.Expansion;

/// <summary>
/// Variable expansion and word splitting the way BuildKit's shell lexer does it (a small,
/// deliberate subset of POSIX sh): <c>$VAR</c>, <c>${VAR}</c>, <c>${VAR:-x}</c>, <c>${VAR-x}</c>,
/// <c>${VAR:+x}</c>, <c>${VAR+x}</c>, <c>${VAR?msg}</c>, <c>${VAR#pat}</c>, <c>${VAR%pat}</c>,
/// <c>${VAR/pat/repl}</c>, single and double quotes, and the escape token.
/// Dockerfile instructions are expanded with this before they run; RUN/CMD/ENTRYPOINT are not
/// (their shell does it).
/// </summary>
/// <remarks>Not safe for concurrent use of one instance.</remarks>
public sealed class ShellLexer
{
    private const int Eof = -1;

    private readonly int _escapeToken;

    public ShellLexer(char escapeToken = '\\')
    {
        _escapeToken = escapeToken;
    }

    /// <summary>Keep quote characters in the output (used to tell quoted heredoc words apart).</summary>
    public bool RawQuotes { get; set; }

    /// <summary>Keep escape tokens in the output.</summary>
    public bool RawEscapes { get; set; }

    /// <summary>Treat quotes as ordinary characters (heredoc bodies).</summary>
    public bool SkipProcessQuotes { get; set; }

    /// <summary>Leave references to unset variables as written instead of expanding them to "".</summary>
    public bool SkipUnsetEnv { get; set; }

    /// <summary>Expands <paramref name="word"/> into one string (spaces between words are kept).</summary>
    /// <exception cref="ShellExpansionException">Bad syntax, or a <c>${VAR?message}</c> that fired.</exception>
    public string ProcessWord(string word, IReadOnlyDictionary<string, string> env) =>
        Process(word, env).Result;

    /// <summary>Expands and also reports which variables were found and which were not.</summary>
    public ExpansionResult ProcessWordWithMatches(string word, IReadOnlyDictionary<string, string> env) =>
        Process(word, env);

    /// <summary>Expands <paramref name="word"/> and splits it into words after expansion, honouring quotes.</summary>
    public IReadOnlyList<string> ProcessWords(string word, IReadOnlyDictionary<string, string> env) =>
        Process(word, env).Words;

    private ExpansionResult Process(string word, IReadOnlyDictionary<string, string> env)
    {
        var state = new State(this, word, env);
        try
        {
            var (result, words) = state.ProcessStopOn(Eof, RawEscapes);
            return new ExpansionResult(result, words, state.Matched, state.Unmatched);
        }
        catch (ShellExpansionException e)
        {
            throw new ShellExpansionException($"failed to process \"{word}\": {e.Message}");
        }
    }

    // Go's unicode.IsSpace, as BuildKit's word splitting uses; safe for any int (Eof is no space).
    private static bool IsSpace(int ch) => GoQuote.IsSpace(ch);

    private sealed class Words
    {
        private readonly StringBuilder _buffer = new();
        private readonly List<string> _words = [];
        private bool _inWord;

        public void AddChar(int ch)
        {
            if (IsSpace(ch) && _inWord)
            {
                if (_buffer.Length != 0)
                {
                    _words.Add(_buffer.ToString());
                    _buffer.Clear();
                    _inWord = false;
                }
            }
            else if (!IsSpace(ch))
            {
                AddRawChar(ch);
            }
        }

        public void AddRawChar(int ch)
        {
            _buffer.Append(char.ConvertFromUtf32(ch));
            _inWord = true;
        }

        public void AddString(string s)
        {
            foreach (Rune r in s.EnumerateRunes())
            {
                AddChar(r.Value);
            }
        }

        public void AddRawString(string s)
        {
            _buffer.Append(s);
            _inWord = true;
        }

        public List<string> GetWords()
        {
            if (_buffer.Length > 0)
            {
                _words.Add(_buffer.ToString());
                _buffer.Clear();
                _inWord = false;
            }
            return _words;
        }
    }

    private sealed class State
    {
        private readonly ShellLexer _lexer;
        private readonly int[] _runes;
        private readonly IReadOnlyDictionary<string, string> _env;
        private int _pos;
        private bool _rawEscapes;

        public State(ShellLexer lexer, string word, IReadOnlyDictionary<string, string> env)
        {
            _lexer = lexer;
            _env = env;
            _rawEscapes = lexer.RawEscapes;
            var runes = new List<int>(word.Length);
            foreach (Rune r in word.EnumerateRunes())
            {
                runes.Add(r.Value);
            }
            _runes = runes.ToArray();
        }

        public HashSet<string> Matched { get; } = new(StringComparer.Ordinal);

        public HashSet<string> Unmatched { get; } = new(StringComparer.Ordinal);

        private int Peek() => _pos < _runes.Length ? _runes[_pos] : Eof;

        private int Next() => _pos < _runes.Length ? _runes[_pos++] : Eof;

        private static string Str(int ch) => char.ConvertFromUtf32(ch);

        // Processes up to the end of input or up to stopChar (consumed); the nested calls for ${...}
        // have their own word buffer, so words before a ${x:-y} survive (plain shell semantics).
        public (string Result, List<string> Words) ProcessStopOn(int stopChar, bool rawEscapes)
        {
            var result = new StringBuilder();
            var words = new Words();
            bool saved = _rawEscapes;
            _rawEscapes = rawEscapes;
            try
            {
                while (Peek() != Eof)
                {
                    int ch = Peek();
                    if (stopChar != Eof && ch == stopChar)
                    {
                        Next();
                        return (result.ToString(), words.GetWords());
                    }

                    string? special = null;
                    if (ch == '$')
                    {
                        special = ProcessDollar();
                        result.Append(special);
                        words.AddString(special);
                        continue;
                    }
                    if (ch == '<')
                    {
                        special = ProcessPossibleHeredoc();
                    }
                    else if (!_lexer.SkipProcessQuotes && ch == '\'')
                    {
                        special = ProcessSingleQuote();
                    }
                    else if (!_lexer.SkipProcessQuotes && ch == '"')
                    {
                        special = ProcessDoubleQuote();
                    }
                    if (special is not null)
                    {
                        result.Append(special);
                        words.AddRawString(special);
                        continue;
                    }

                    ch = Next();
                    if (ch == _lexer._escapeToken)
                    {
                        if (_rawEscapes)
                        {
                            words.AddRawChar(ch);
                            result.Append(Str(ch));
                        }
                        // The escape token escapes the next character, except at the end of input.
                        ch = Next();
                        if (ch == Eof)
                        {
                            break;
                        }
                        words.AddRawChar(ch);
                    }
                    else
                    {
                        words.AddChar(ch);
                    }
                    result.Append(Str(ch));
                }
                if (stopChar != Eof)
                {
                    throw new ShellExpansionException($"unexpected end of statement while looking for matching {Str(stopChar)}");
                }
                return (result.ToString(), words.GetWords());
            }
            finally
            {
                _rawEscapes = saved;
            }
        }

        private string ProcessSingleQuote()
        {
            var result = new StringBuilder();
            int ch = Next();
            if (_lexer.RawQuotes)
            {
                result.Append(Str(ch));
            }
            while (true)
            {
                ch = Next();
                if (ch == Eof)
                {
                    throw new ShellExpansionException("unexpected end of statement while looking for matching single-quote");
                }
                if (ch == '\'')
                {
                    if (_lexer.RawQuotes)
                    {
                        result.Append('\'');
                    }
                    return result.ToString();
                }
                result.Append(Str(ch));
            }
        }

        private string ProcessDoubleQuote()
        {
            var result = new StringBuilder();
            int ch = Next();
            if (_lexer.RawQuotes)
            {
                result.Append(Str(ch));
            }
            while (true)
            {
                switch (Peek())
                {
                    case Eof:
                        throw new ShellExpansionException("unexpected end of statement while looking for matching double-quote");
                    case '"':
                        Next();
                        if (_lexer.RawQuotes)
                        {
                            result.Append('"');
                        }
                        return result.ToString();
                    case '$':
                        result.Append(ProcessDollar());
                        break;
                    default:
                        ch = Next();
                        if (ch == _lexer._escapeToken)
                        {
                            if (_rawEscapes)
                            {
                                result.Append(Str(ch));
                            }
                            int next = Peek();
                            if (next == Eof)
                            {
                                // An escape at the very end is dropped.
                                continue;
                            }
                            // Only ", $ and the escape token itself can be escaped; other escapes stay literal.
                            if (next == '"' || next == '$' || next == _lexer._escapeToken)
                            {
                                ch = Next();
                            }
                        }
                        result.Append(Str(ch));
                        break;
                }
            }
        }

        private string ProcessDollar()
        {
            Next();
            if (Peek() != '{')
            {
                string name = ProcessName();
                if (name.Length == 0)
                {
                    return "$";
                }
                if (!TryGetEnv(name, out string value) && _lexer.SkipUnsetEnv)
                {
                    return "$" + name;
                }
                return value;
            }

            Next();
            switch (Peek())
            {
                case Eof:
                    throw new ShellExpansionException("syntax error: missing '}'");
                case '{' or '}' or ':':
                    throw new ShellExpansionException("syntax error: bad substitution");
            }
            string varName = ProcessName();
            int ch = Next();
            string chs = ch == Eof ? "" : Str(ch);
            bool nullIsUnset = false;

            if (ch == '}')
            {
                bool set = TryGetEnv(varName, out string v);
                if (!set && _lexer.SkipUnsetEnv)
                {
                    return "${" + varName + "}";
                }
                return v;
            }

            if (ch == ':')
            {
                nullIsUnset = true;
                ch = Next();
                chs += ch == Eof ? "" : Str(ch);
            }
            else if (ch == '/')
            {
                return ProcessReplace(varName);
            }
            else if (ch is not ('+' or '-' or '?' or '#' or '%'))
            {
                throw new ShellExpansionException($"unsupported modifier ({chs}) in substitution");
            }

            if (nullIsUnset || ch is '+' or '-' or '?' or '#' or '%')
            {
                bool patternEscapes = ch is '#' or '%';
                if (nullIsUnset && patternEscapes)
                {
                    throw new ShellExpansionException($"unsupported modifier ({chs}) in substitution");
                }
                string word;
                try
                {
                    word = ProcessStopOn('}', patternEscapes).Result;
                }
                catch (ShellExpansionException) when (Peek() == Eof)
                {
                    throw new ShellExpansionException("syntax error: missing '}'");
                }

                bool set = TryGetEnv(varName, out string value);
                if (_lexer.SkipUnsetEnv && !set)
                {
                    return "${" + varName + chs + word + "}";
                }
                switch (ch)
                {
                    case '-':
                        return !set || (nullIsUnset && value.Length == 0) ? word : value;
                    case '+':
                        return !set || (nullIsUnset && value.Length == 0) ? "" : word;
                    case '?':
                        if (!set)
                        {
                            throw new ShellExpansionException($"{varName}: {(word.Length != 0 ? word : "is not allowed to be unset")}");
                        }
                        if (nullIsUnset && value.Length == 0)
                        {
                            throw new ShellExpansionException($"{varName}: {(word.Length != 0 ? word : "is not allowed to be empty")}");
                        }
                        return value;
                    case '#' or '%':
                        // #/% remove the shortest match, ##/%% the longest.
                        bool greedy = false;
                        if (word.Length > 0 && word[0] == ch)
                        {
                            greedy = true;
                            word = word[1..];
                        }
                        return ch == '%' ? TrimSuffix(word, value, greedy) : TrimPrefix(word, value, greedy);
                    default:
                        throw new ShellExpansionException($"unsupported modifier ({chs}) in substitution");
                }
            }
            throw new ShellExpansionException($"unsupported modifier ({chs}) in substitution");
        }

        private string ProcessReplace(string varName)
        {
            bool replaceAll = Peek() == '/';
            if (replaceAll)
            {
                Next();
            }
            string pattern;
            try
            {
                pattern = ProcessStopOn('/', true).Result;
            }
            catch (ShellExpansionException) when (Peek() == Eof)
            {
                throw new ShellExpansionException("syntax error: missing '/' in ${}");
            }
            string replacement;
            try
            {
                replacement = ProcessStopOn('}', true).Result;
            }
            catch (ShellExpansionException) when (Peek() == Eof)
            {
                throw new ShellExpansionException("syntax error: missing '}'");
            }

            bool set = TryGetEnv(varName, out string value);
            if (_lexer.SkipUnsetEnv && !set)
            {
                return "${" + varName + "/" + pattern + "/" + replacement + "}";
            }
            Regex re = ShellPattern.ToRegex(pattern, greedy: true, anchored: false);
            if (replaceAll)
            {
                return re.Replace(value, replacement.Replace("$", "$$", StringComparison.Ordinal));
            }
            Match m = re.Match(value);
            return m.Success ? value[..m.Index] + replacement + value[(m.Index + m.Length)..] : value;
        }

        private string ProcessName()
        {
            var name = new StringBuilder();
            while (Peek() != Eof)
            {
                int ch = Peek();
                if (name.Length == 0 && Rune.IsDigit(new Rune(ch)))
                {
                    while (Peek() != Eof && Rune.IsDigit(new Rune(Peek())))
                    {
                        name.Append(Str(Next()));
                    }
                    return name.ToString();
                }
                if (name.Length == 0 && IsSpecialParameter(ch))
                {
                    return Str(Next());
                }
                var rune = new Rune(ch);
                if (!Rune.IsLetter(rune) && !Rune.IsDigit(rune) && ch != '_')
                {
                    break;
                }
                name.Append(Str(Next()));
            }
            return name.ToString();
        }

        private string ProcessPossibleHeredoc()
        {
            Next();
            if (Peek() != '<')
            {
                return "<";
            }
            Next();
            // "<< EOF" stays one word so the heredoc detector sees the space.
            var result = new StringBuilder("<<");
            while (Peek() is '\t' or '\r' or ' ')
            {
                result.Append(Str(Next()));
            }
            return result.ToString();
        }

        private static bool IsSpecialParameter(int ch) => ch is '@' or '*' or '#' or '?' or '-' or '$' or '!' or '0';

        private bool TryGetEnv(string name, out string value)
        {
            if (_env.TryGetValue(name, out string? v))
            {
                Matched.Add(name);
                value = v;
                return true;
            }
            Unmatched.Add(name);
            value = "";
            return false;
        }

        private static string TrimPrefix(string pattern, string value, bool greedy)
        {
            Match m = ShellPattern.ToRegex(pattern, greedy, anchored: true).Match(value);
            return m.Success ? value[(m.Index + m.Length)..] : value;
        }

        // A regex finds the leftmost match only, so the suffix case reverses both the pattern and
        // the value and trims a prefix.
        private static string TrimSuffix(string pattern, string value, bool greedy) =>
            ShellPattern.ReverseString(TrimPrefix(ShellPattern.ReversePattern(pattern), ShellPattern.ReverseString(value), greedy));
    }
}

/// <summary>The expanded text, its words, and the variables looked up (found and not found).</summary>
public sealed record ExpansionResult(string Result, IReadOnlyList<string> Words, IReadOnlySet<string> Matched, IReadOnlySet<string> Unmatched);

/// <summary>A variable reference or quoting that cannot be expanded.</summary>
public sealed class ShellExpansionException : Exception
{
    public ShellExpansionException(string message)
        : base(message)
    {
    }
}
