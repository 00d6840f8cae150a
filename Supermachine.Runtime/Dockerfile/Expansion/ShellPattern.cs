using System.Text;
using System.Text.RegularExpressions;

namespace Supermachine.Dockerfile.Expansion;

/// <summary>Shell wildcard patterns (<c>*</c>, <c>?</c>, escapes; no brackets) as used in <c>${VAR#pattern}</c>.</summary>
internal static class ShellPattern
{
    public static Regex ToRegex(string pattern, bool greedy, bool anchored)
    {
        var output = new StringBuilder(pattern.Length + 4);
        if (anchored)
        {
            output.Append('^');
        }
        string star = greedy ? ".*" : ".*?";
        Rune[] runes = pattern.EnumerateRunes().ToArray();
        for (int i = 0; i < runes.Length; i++)
        {
            int tok = runes[i].Value;
            switch (tok)
            {
                case '*':
                    output.Append(star);
                    continue;
                case '?':
                    output.Append('.');
                    continue;
                case '\\':
                    int peek = i + 1 < runes.Length ? runes[i + 1].Value : -1;
                    // "\}" and "\/" inside ${} escape the delimiter; the escape is not part of the pattern.
                    if (peek is '}' or '/')
                    {
                        continue;
                    }
                    output.Append('\\');
                    i++;
                    if (peek is not ('*' or '?' or '\\'))
                    {
                        throw new ShellExpansionException($"invalid pattern ({pattern}) in substitution: invalid escape '\\{(peek < 0 ? "" : char.ConvertFromUtf32(peek))}'");
                    }
                    tok = peek;
                    break;
                case '[' or ']' or '{' or '}' or '.' or '+' or '(' or ')' or '|' or '^' or '$':
                    output.Append('\\');
                    break;
            }
            output.Append(char.ConvertFromUtf32(tok));
        }
        return new Regex(output.ToString(), RegexOptions.CultureInvariant);
    }

    /// <summary>Reverses a pattern but keeps each escape in front of the character it escapes.</summary>
    public static string ReversePattern(string pattern)
    {
        Rune[] runes = pattern.EnumerateRunes().ToArray();
        var output = new Rune[runes.Length];
        int last = runes.Length - 1;
        for (int i = 0; i <= last;)
        {
            int outIndex = last - i;
            if (runes[i].Value == '\\' && i != last)
            {
                output[outIndex - 1] = runes[i];
                output[outIndex] = runes[i + 1];
                i += 2;
            }
            else
            {
                output[outIndex] = runes[i];
                i++;
            }
        }
        return string.Concat(output.Select(r => r.ToString()));
    }

    public static string ReverseString(string s)
    {
        Rune[] runes = s.EnumerateRunes().ToArray();
        Array.Reverse(runes);
        return string.Concat(runes.Select(r => r.ToString()));
    }
}
