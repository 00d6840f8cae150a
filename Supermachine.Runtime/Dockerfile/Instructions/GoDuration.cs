using System.Globalization;

namespace Supermachine.Dockerfile.Instructions;

/// <summary>Go's <c>time.ParseDuration</c> syntax (<c>1h30m</c>, <c>1.5s</c>, <c>300ms</c>, <c>10us</c>), as HEALTHCHECK options use.</summary>
internal static class GoDuration
{
    private static readonly (string Unit, double Ticks)[] Units =
    [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ];

    /// <summary>The duration in nanoseconds, or null when <paramref name="text"/> is not a valid duration.</summary>
    public static double? ParseNanoseconds(string text)
    {
        string s = text;
        bool negative = false;
        if (s.Length > 0 && s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }
        if (s == "0")
        {
            return 0;
        }
        if (s.Length == 0)
        {
            return null;
        }
        double ticks = 0;
        while (s.Length > 0)
        {
            int i = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }
            if (i == 0 || !double.TryParse(s[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
            {
                return null;
            }
            s = s[i..];
            (string Unit, double Ticks)? unit = null;
            foreach (var u in Units.OrderByDescending(u => u.Unit.Length))
            {
                if (s.StartsWith(u.Unit, StringComparison.Ordinal))
                {
                    unit = u;
                    break;
                }
            }
            if (unit is null)
            {
                return null;
            }
            ticks += number * unit.Value.Ticks;
            s = s[unit.Value.Unit.Length..];
        }
        return negative ? -ticks : ticks;
    }
}
