using System.Diagnostics;

namespace Supermachine.Oci;

/// <summary>
/// Turns per-blob byte counts into lines for people: "pulling 12.3/45.6 MiB at 3.4 MiB/s (2/5
/// layers)" at most every <c>interval</c>, then one "pulled 45.6 MiB in 2.1 s (21.7 MiB/s, 5
/// layers)". Only layers that have to be downloaded count; a pull served from the content store
/// says nothing. The command line and the bake show the same words.
/// </summary>
internal sealed class PullProgressSummary(Action<string> report, TimeSpan interval) : IProgress<PullProgress>
{
    private const double MiB = 1048576.0;
    private readonly Dictionary<string, (long Done, long Total)> _fresh = [];
    private readonly HashSet<string> _seen = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long? _last;
    private bool _completeReported;

    public void Report(PullProgress value)
    {
        // The config and manifests are a few KiB: counting them made a one-layer pull read 0.0/0.0 MiB
        // once the config had arrived, before the layer was even announced.
        if (value.Kind != "layer")
        {
            return;
        }
        string line;
        lock (_fresh)
        {
            // The puller announces every layer (cached ones as done) before it fetches any, so the
            // first report of a blob says whether it must be downloaded, and later ones how far it got.
            bool announcement = _seen.Add(value.Digest);
            if (announcement && value.BytesDone < value.BytesTotal)
            {
                _fresh[value.Digest] = (value.BytesDone, value.BytesTotal);
            }
            else if (!announcement && _fresh.ContainsKey(value.Digest))
            {
                _fresh[value.Digest] = (value.BytesDone, value.BytesTotal);
            }
            if (announcement || !_fresh.ContainsKey(value.Digest))
            {
                return;
            }
            long done = _fresh.Values.Sum(b => Math.Min(b.Done, b.Total));
            long total = _fresh.Values.Sum(b => b.Total);
            double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
            string rate = $"{done / MiB / seconds:F1} MiB/s";
            bool complete = done >= total;
            long now = Environment.TickCount64;
            if (complete ? _completeReported : _last is long last && now - last < interval.TotalMilliseconds)
            {
                return;
            }
            _last = now;
            _completeReported = complete;
            line = complete ? $"pulled {total / MiB:F1} MiB in {seconds:F1} s ({rate}, {Layers(_fresh.Count)})"
                : done < MiB / 10 ? $"pulling {total / MiB:F1} MiB ({Layers(_fresh.Count)})"
                : $"pulling {done / MiB:F1}/{total / MiB:F1} MiB at {rate} ({_fresh.Values.Count(b => b.Done >= b.Total)}/{Layers(_fresh.Count)})";
        }
        report(line);
    }

    private static string Layers(int n) => n == 1 ? "1 layer" : $"{n} layers";
}
