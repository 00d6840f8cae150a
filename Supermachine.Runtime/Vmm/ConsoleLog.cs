using System.Text;

namespace Supermachine.Vmm;

/// <summary>
/// Reads a guest console log the engine writes. The guest controls every byte of it, so reads are
/// bounded and the text is made printable: never used as a path, a format string or a command.
/// </summary>
internal static class ConsoleLog
{
    /// <summary>The phrases with which a Linux guest reports that it panicked.</summary>
    private static readonly string[] PanicMarkers = ["Kernel panic - not syncing", "---[ end Kernel panic"];

    /// <summary>The last <paramref name="maxBytes"/> bytes of <paramref name="path"/>, made printable; "" when absent.</summary>
    public static string ReadTail(string path, int maxBytes = 8192)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long start = Math.Max(0, file.Length - maxBytes);
            file.Position = start;
            byte[] buffer = new byte[(int)Math.Min(maxBytes, file.Length - start)];
            file.ReadExactly(buffer);
            return Printable(buffer, cutFirstLine: start > 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>True when <paramref name="text"/> shows a kernel panic.</summary>
    public static bool ShowsPanic(string text) => PanicMarkers.Any(m => text.Contains(m, StringComparison.Ordinal));

    /// <summary>
    /// Decodes leniently, drops ANSI escape sequences and replaces other control characters, so
    /// the text can go into an exception message or a terminal safely.
    /// </summary>
    public static string Printable(ReadOnlySpan<byte> bytes, bool cutFirstLine = false)
    {
        string text = Encoding.UTF8.GetString(bytes);
        if (cutFirstLine)
        {
            int newline = text.IndexOf('\n');
            if (newline >= 0 && newline < text.Length - 1)
            {
                text = text[(newline + 1)..];
            }
        }
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\x1b')
            {
                // Skip "ESC [ params final" or a two-character escape.
                i++;
                if (i < text.Length && text[i] == '[')
                {
                    while (i + 1 < text.Length && !char.IsAsciiLetter(text[i + 1]))
                    {
                        i++;
                    }
                    i++;
                }
                continue;
            }
            if (c == '\r')
            {
                continue;
            }
            sb.Append(c is '\n' or '\t' || !char.IsControl(c) ? c : '?');
        }
        return sb.ToString().TrimEnd();
    }
}
