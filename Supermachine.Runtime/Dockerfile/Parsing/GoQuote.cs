using System.Globalization;
using System.Text;

namespace Supermachine.Dockerfile.Parsing;

/// <summary>
/// The quoting and space rules of Go's standard library that BuildKit's dump format is made of
/// (<c>strconv.Quote</c>, <c>unicode.IsSpace</c>, <c>strings.TrimSpace</c>).
/// </summary>
internal static class GoQuote
{
    public static string Quote(string s)
    {
        var builder = new StringBuilder(s.Length + 2);
        Append(builder, s);
        return builder.ToString();
    }

    public static void Append(StringBuilder output, string s)
    {
        output.Append('"');
        foreach (Rune rune in s.EnumerateRunes())
        {
            int r = rune.Value;
            switch (r)
            {
                case '"':
                    output.Append("\\\"");
                    continue;
                case '\\':
                    output.Append("\\\\");
                    continue;
            }
            if (IsPrint(rune))
            {
                output.Append(rune.ToString());
                continue;
            }
            switch (r)
            {
                case '\a': output.Append("\\a"); break;
                case '\b': output.Append("\\b"); break;
                case '\f': output.Append("\\f"); break;
                case '\n': output.Append("\\n"); break;
                case '\r': output.Append("\\r"); break;
                case '\t': output.Append("\\t"); break;
                case '\v': output.Append("\\v"); break;
                default:
                    if (r < ' ' || r == 0x7f)
                    {
                        output.Append("\\x").Append(r.ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else if (r < 0x10000)
                    {
                        output.Append("\\u").Append(r.ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        output.Append("\\U").Append(r.ToString("x8", CultureInfo.InvariantCulture));
                    }
                    break;
            }
        }
        output.Append('"');
    }

    // Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    private static bool IsPrint(Rune rune)
    {
        if (rune.Value == ' ')
        {
            return true;
        }
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
                or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
                or UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
                or UnicodeCategory.OtherPunctuation
                or UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol or UnicodeCategory.OtherSymbol => true,
            _ => false,
        };
    }

    /// <summary>Go's unicode.IsSpace.</summary>
    public static bool IsSpace(int ch) => ch switch
    {
        '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or 0x85 or 0xA0 => true,
        < 0x100 => false,
        _ => ch <= 0x10FFFF && Rune.IsWhiteSpace(new Rune(ch)),
    };

    public static bool IsSpace(char ch) => IsSpace((int)ch);

    public static string TrimSpace(string s)
    {
        int start = 0;
        int end = s.Length;
        while (start < end && IsSpace(s[start]))
        {
            start++;
        }
        while (end > start && IsSpace(s[end - 1]))
        {
            end--;
        }
        return s[start..end];
    }

    public static string TrimLeftSpace(string s)
    {
        int start = 0;
        while (start < s.Length && IsSpace(s[start]))
        {
            start++;
        }
        return s[start..];
    }

    /// <summary>BuildKit's <c>[\t\v\f\r ]+</c> separator.</summary>
    public static bool IsSeparator(char ch) => ch is '\t' or '\v' or '\f' or '\r' or ' ';

    /// <summary>Splits on runs of <c>[\t\v\f\r ]</c> into at most <paramref name="limit"/> parts (all when negative), like Go's regexp Split.</summary>
    public static List<string> SplitWhitespace(string s, int limit)
    {
        var parts = new List<string>();
        int start = 0;
        int i = 0;
        while (i < s.Length)
        {
            if (limit > 0 && parts.Count == limit - 1)
            {
                break;
            }
            if (IsSeparator(s[i]))
            {
                int runEnd = i;
                while (runEnd < s.Length && IsSeparator(s[runEnd]))
                {
                    runEnd++;
                }
                parts.Add(s[start..i]);
                start = runEnd;
                i = runEnd;
                continue;
            }
            i++;
        }
        parts.Add(s[start..]);
        return parts;
    }
}
