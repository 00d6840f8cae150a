namespace Supermachine.Oci;

/// <summary>
/// Turns per-blob byte counts into one line for people, "pulling 12.3/45.6 MiB (2/5 blobs)", at
/// most every <c>interval</c> and always when everything has arrived. The command line and the bake
/// show the same words.
/// </summary>
internal sealed class PullProgressSummary(Action<string> report, TimeSpan interval) : IProgress<PullProgress>
{
    private readonly Dictionary<string, (long Done, long Total)> _blobs = [];
    private long _last = long.MinValue;
    private bool _completeReported;

    public void Report(PullProgress value)
    {
        string line;
        lock (_blobs)
        {
            _blobs[value.Digest] = (value.BytesDone, value.BytesTotal);
            bool complete = _blobs.Values.All(b => b.Done >= b.Total);
            long now = Environment.TickCount64;
            if (complete ? _completeReported : now - _last < interval.TotalMilliseconds)
            {
                return;
            }
            _last = now;
            _completeReported = complete;
            line = $"pulling {_blobs.Values.Sum(b => b.Done) / 1048576.0:F1}/{_blobs.Values.Sum(b => b.Total) / 1048576.0:F1} MiB ({_blobs.Values.Count(b => b.Done >= b.Total)}/{_blobs.Count} blobs)";
        }
        report(line);
    }
}
