using System.Globalization;

namespace Supermachine.Dockerfile.Instructions;

/// <summary>Go's <c>time.ParseDuration</c> syntax (<c>1h30m</c>, <c>1.5s</c>, <c>300ms</c>, <c>10us</c>), as HEALTHCHECK options use.</summary>
internal static class GoDuration
{
    private static readonly (string Unit, double Ticks)[] Units =
    [
        ("ns", 0.01), ("us", 10), ("µs", 10), ("μs", 10), ("ms", TimeSpan.TicksPerMillisecond),
        ("s", TimeSpan.TicksPerSecond), ("m", TimeSpan.TicksPerMinute), ("h", TimeSpan.TicksPerHour),
    ];

    /// <summary>The duration, or null when <paramref name="text"/> is not a valid duration.</summary>
    public static TimeSpan? Parse(string text)
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
            return TimeSpan.Zero;
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
        return TimeSpan.FromTicks((long)Math.Round(negative ? -ticks : ticks));
    }
}
