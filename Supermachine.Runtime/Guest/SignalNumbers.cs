namespace Supermachine.Guest;

/// <summary>
/// Linux signal names as an image's STOPSIGNAL gives them ("SIGINT", "INT", "2", "SIGRTMIN+3"),
/// to the numbers the agent sends. The numbers are those of x86-64 and arm64 alike.
/// </summary>
internal static class SignalNumbers
{
    public const int Terminate = 15;

    private static readonly Dictionary<string, int> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["IOT"] = 6, ["BUS"] = 7,
        ["FPE"] = 8, ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14,
        ["TERM"] = 15, ["STKFLT"] = 16, ["CHLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20, ["TTIN"] = 21,
        ["TTOU"] = 22, ["URG"] = 23, ["XCPU"] = 24, ["XFSZ"] = 25, ["VTALRM"] = 26, ["PROF"] = 27, ["WINCH"] = 28,
        ["IO"] = 29, ["POLL"] = 29, ["PWR"] = 30, ["SYS"] = 31,
    };

    /// <summary>The signal's number (1..64), or null when <paramref name="text"/> names none.</summary>
    public static int? Parse(string text)
    {
        string name = text.Trim();
        if (int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int number))
        {
            return number is >= 1 and <= 64 ? number : null;
        }
        if (name.StartsWith("SIG", StringComparison.OrdinalIgnoreCase))
        {
            name = name[3..];
        }
        if (Names.TryGetValue(name, out int known))
        {
            return known;
        }
        // Real-time signals: RTMIN is 34 and RTMAX 64 as glibc and musl number them.
        if (name.StartsWith("RTMIN", StringComparison.OrdinalIgnoreCase) || name.StartsWith("RTMAX", StringComparison.OrdinalIgnoreCase))
        {
            bool min = char.ToUpperInvariant(name[3]) == 'I';
            string rest = name[5..];
            int offset = rest.Length == 0 ? 0
                : rest.Length > 1 && rest[0] is '+' or '-' && int.TryParse(rest[1..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) ? (rest[0] == '+' ? n : -n)
                : int.MinValue;
            int value = (min ? 34 : 64) + offset;
            return offset != int.MinValue && value is >= 34 and <= 64 ? value : null;
        }
        return null;
    }
}
