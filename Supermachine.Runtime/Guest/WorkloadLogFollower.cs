using System.Runtime.CompilerServices;
using System.Text;

namespace Supermachine.Guest;

/// <summary>
/// The workload's log as lines that keep coming: every line so far, then each new one as the
/// workload writes it, until it exits. The agent serves the log as a snapshot (the last MiB and
/// the count of bytes ever written), so this polls it and hands on only the bytes past those
/// already seen; a gap wider than the kept MiB is said in one line instead of silently skipped.
/// </summary>
internal static class WorkloadLogFollower
{
    public static async IAsyncEnumerable<string> FollowAsync(
        Func<CancellationToken, Task<WorkloadLog>> read,
        TimeSpan interval,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Decoder decoder = Encoding.UTF8.GetDecoder();
        var partial = new StringBuilder();
        long seen = 0;
        while (true)
        {
            WorkloadLog log = await read(cancellationToken).ConfigureAwait(false);
            long fresh = log.TotalBytes - seen;
            if (fresh > 0)
            {
                if (fresh > log.Content.Length)
                {
                    yield return $"[{fresh - log.Content.Length} bytes of the workload's log were overwritten before they were read]";
                    partial.Clear();
                    decoder.Reset();
                }
                int take = (int)Math.Min(fresh, log.Content.Length);
                byte[] bytes = log.Content[^take..];
                var chars = new char[decoder.GetCharCount(bytes, flush: false)];
                decoder.GetChars(bytes, chars, flush: false);
                partial.Append(chars);
                seen = log.TotalBytes;
                foreach (string line in TakeLines(partial))
                {
                    yield return line;
                }
            }
            if (!log.Running)
            {
                if (partial.Length > 0)
                {
                    yield return partial.ToString();
                }
                yield break;
            }
            await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Removes and returns the complete lines of <paramref name="text"/> (without their "\n" or "\r\n").</summary>
    private static List<string> TakeLines(StringBuilder text)
    {
        var lines = new List<string>();
        string all = text.ToString();
        int start = 0;
        for (int newline = all.IndexOf('\n'); newline >= 0; newline = all.IndexOf('\n', start))
        {
            lines.Add(all[start..newline].TrimEnd('\r'));
            start = newline + 1;
        }
        text.Remove(0, start);
        return lines;
    }
}
