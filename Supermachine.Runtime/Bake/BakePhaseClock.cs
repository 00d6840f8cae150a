using System.Diagnostics;
using System.Globalization;

namespace Supermachine.Bake;

/// <summary>
/// The time each phase of one bake took, for its summary line:
/// "redis_7: baked in 31.2 s (pull 2.1, rootfs 9.0, boot 4.2, ready 14.8, snapshot 1.1)".
/// </summary>
internal sealed class BakePhaseClock
{
    private readonly Stopwatch _total = Stopwatch.StartNew();
    private readonly Stopwatch _phase = Stopwatch.StartNew();
    private readonly List<(string Name, TimeSpan Duration)> _phases = [];

    public TimeSpan Elapsed => _total.Elapsed;

    /// <summary>Starts timing the next phase, dropping the time since the last one ended (bookkeeping, not a phase).</summary>
    public void Begin() => _phase.Restart();

    /// <summary>Ends the phase under way as <paramref name="name"/> and starts the next.</summary>
    public void End(string name)
    {
        _phases.Add((name, _phase.Elapsed));
        _phase.Restart();
    }

    /// <summary>"baked in 31.2 s (pull 2.1, rootfs 9.0, ...)".</summary>
    public string Summary(string verb) =>
        string.Create(CultureInfo.InvariantCulture, $"{verb} in {_total.Elapsed.TotalSeconds:F1} s")
        + (_phases.Count == 0 ? "" : " (" + string.Join(", ", _phases.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {p.Duration.TotalSeconds:F1}"))) + ")");
}
