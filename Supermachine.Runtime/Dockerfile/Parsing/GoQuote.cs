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

    /// <summary>Go's unicode.IsSpace: the Latin-1 spaces plus Unicode's White_Space property.</summary>
    public static bool IsSpace(Rune rune) => rune.Value switch
    {
        '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or 0x85 or 0xA0 => true,
        < 0x100 => false,
        _ => Rune.IsWhiteSpace(rune),
    };

    /// <summary>
    /// <see cref="IsSpace(Rune)"/> for a code point that may be anything: a surrogate half, a value
    /// past U+10FFFF or a negative end-of-input marker is not a space (it is no rune at all).
    /// </summary>
    public static bool IsSpace(int codePoint) => Rune.IsValid(codePoint) && IsSpace(new Rune(codePoint));

    /// <summary>
    /// The rune that starts at <paramref name="index"/> and how many chars it takes, as Go's
    /// utf8.DecodeRuneInString: a surrogate pair is one rune of width 2, a lone surrogate is
    /// U+FFFD of width 1. Text is walked by runes, never by chars, so characters outside the BMP
    /// (emoji in a comment or an argument) are never split into halves.
    /// </summary>
    public static Rune RuneAt(string s, int index, out int width)
    {
        Rune.DecodeFromUtf16(s.AsSpan(index), out Rune rune, out width);
        return rune;
    }

    /// <summary>Appends one code point (two chars when it lies outside the BMP).</summary>
    public static StringBuilder AppendRune(this StringBuilder builder, Rune rune)
    {
        Span<char> chars = stackalloc char[2];
        int length = rune.EncodeToUtf16(chars);
        return builder.Append(chars[..length]);
    }

    /// <summary>Go's strings.TrimSpace.</summary>
    public static string TrimSpace(string s)
    {
        int start = LeadingSpaceLength(s);
        int end = s.Length;
        while (end > start)
        {
            Rune.DecodeLastFromUtf16(s.AsSpan(start, end - start), out Rune rune, out int width);
            if (!IsSpace(rune))
            {
                break;
            }
            end -= width;
        }
        return s[start..end];
    }

    /// <summary>Go's strings.TrimLeftFunc(s, unicode.IsSpace).</summary>
    public static string TrimLeftSpace(string s) => s[LeadingSpaceLength(s)..];

    /// <summary>How many chars of leading space <paramref name="s"/> has from <paramref name="start"/> on.</summary>
    public static int LeadingSpaceLength(string s, int start = 0)
    {
        int position = start;
        while (position < s.Length && IsSpace(RuneAt(s, position, out int width)))
        {
            position += width;
        }
        return position - start;
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
