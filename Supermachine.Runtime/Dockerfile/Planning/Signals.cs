using System.Globalization;

namespace Supermachine.Dockerfile.Planning;

/// <summary>Signal names and numbers STOPSIGNAL accepts (Linux).</summary>
internal static class Signals
{
    private static readonly HashSet<string> Names = new(StringComparer.Ordinal)
    {
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR",
        "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM",
        "WINCH", "XCPU", "XFSZ",
    };

    public static bool IsValid(string signal)
    {
        if (int.TryParse(signal, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
        {
            return number is >= 1 and <= 64;
        }
        string name = signal.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal))
        {
            name = name[3..];
        }
        if (name.StartsWith("RTMIN", StringComparison.Ordinal) || name.StartsWith("RTMAX", StringComparison.Ordinal))
        {
            return true;
        }
        return Names.Contains(name);
    }
}
