namespace Supermachine.Bench;

/// <summary>
/// One side-by-side comparison. Implementations are found by reflection, so adding a benchmark is
/// adding a file. Each writes a small report: absolute figures for both sides and their ratio.
/// </summary>
public interface IBenchmark
{
    /// <summary>Short name used on the command line, e.g. "squashfs".</summary>
    string Name { get; }

    string Description { get; }

    Task RunAsync(BenchContext context, CancellationToken cancellationToken);
}

/// <summary>What every benchmark gets: a scratch directory and a report writer.</summary>
public sealed class BenchContext(string workDirectory, TextWriter report)
{
    public string WorkDirectory { get; } = workDirectory;

    public TextWriter Report { get; } = report;

    public void Row(string what, string ours, string peer, string ratio) =>
        Report.WriteLine($"| {what} | {ours} | {peer} | {ratio} |");
}
