using System.Diagnostics;
using System.Net;
using MySqlConnector;
using Npgsql;
using Supermachine.Bake;
using Supermachine.Tests.Fidelity;
using static Supermachine.Bench.VmBenchSupport;

namespace Supermachine.Bench;

/// <summary>
/// The Debian fixture images (tests/fixtures/debian-images.sh) as the fidelity tests bake them:
/// each bake's time split into its phases (pull, rootfs, boot, ready, warmup, snapshot) from the
/// bake's own progress lines, then restore → first query against cold boot → first query for
/// PostgreSQL (Npgsql) and MariaDB (MySqlConnector), side by side in one run.
/// </summary>
public sealed class FidelityBench : IBenchmark
{
    private const int RestoreRuns = 3;
    private const int ColdRuns = 1;

    // The progress line that opens each phase; the bake's closing "baked in" line ends the last.
    private static readonly (string Phase, string Marker)[] Phases =
    [
        ("pull", ": pulling "), ("rootfs", ": writing the root filesystem"), ("boot", ": booting"),
        ("ready", ": waiting"), ("warmup", ": ready; warming up"), ("snapshot", ": snapshotting"), ("end", ": baked in"),
    ];

    public string Name => "fidelity";

    public string Description => "Debian fixture images: bake phases under TCG; PostgreSQL and MariaDB restore vs cold boot to first query";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        TextWriter report = context.Report;
        var images = new Dictionary<string, MicroVmImage>();
        report.WriteLine($"load average at start {File.ReadAllText("/proc/loadavg").Split(' ')[0]} on {Environment.ProcessorCount} cores");
        report.WriteLine("| image | pull | rootfs | boot | ready | warmup | snapshot | total |");
        report.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (DebianBake bake in DebianBakes.All)
        {
            var marks = new List<(string Line, TimeSpan At)>();
            var clock = Stopwatch.StartNew();
            MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(bake.Reference, key => key == "Name" ? bake.Name : bake[key]);
            images[bake.Tag] = new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(context.WorkDirectory, bake.Name), new BakeOptions
            {
                CacheDirectory = Path.Combine(context.WorkDirectory, "cache"),
                UseCache = false,
                BootTimeout = TimeSpan.FromMinutes(10),
                ReadyTimeout = TimeSpan.FromMinutes(15),
                Progress = line => { lock (marks) { marks.Add((line, clock.Elapsed)); } },
            }, cancellationToken));
            TimeSpan total = clock.Elapsed;
            report.WriteLine($"| {bake.Tag} | {string.Join(" | ", PhaseSeconds(marks, total))} | {total.TotalSeconds:F1} s |");
        }

        report.WriteLine();
        report.WriteLine($"medians of {RestoreRuns} restores and {ColdRuns} cold boot(s), from MicroVm.StartAsync to the first query's answer");
        report.WriteLine("| what | restore | cold boot | ratio (restore/cold) |");
        report.WriteLine("|---|---|---|---|");
        await CompareAsync(context, "PostgreSQL: start → SELECT count(*) (Npgsql)", images["postgres"], PostgresQueryAsync, cancellationToken);
        await CompareAsync(context, "MariaDB: start → SELECT 1 (MySqlConnector)", images["mariadb"], MariaDbQueryAsync, cancellationToken);
        report.WriteLine($"load average at end {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    }

    /// <summary>Seconds per phase; a phase the bake did not report (no warmup) is "-".</summary>
    private static IEnumerable<string> PhaseSeconds(List<(string Line, TimeSpan At)> marks, TimeSpan total)
    {
        TimeSpan? Start(string marker) => marks.FirstOrDefault(m => m.Line.Contains(marker, StringComparison.Ordinal)) is { Line: not null } m ? m.At : null;
        for (int i = 0; i < Phases.Length - 1; i++)
        {
            TimeSpan? start = Start(Phases[i].Marker);
            TimeSpan end = Phases.Skip(i + 1).Select(p => Start(p.Marker)).FirstOrDefault(t => t is not null) ?? total;
            yield return start is TimeSpan s ? $"{(end - s).TotalSeconds:F1} s" : "-";
        }
    }

    private static async Task CompareAsync(BenchContext context, string what, MicroVmImage image, Func<MicroVm, CancellationToken, Task> query, CancellationToken cancellationToken)
    {
        // Hash check once, outside every timing (a process pays it once per image).
        await (await MicroVm.StartAsync(image, cancellationToken: cancellationToken)).DisposeAsync();
        var restore = new List<double>();
        for (int i = 0; i < RestoreRuns; i++)
        {
            restore.Add(await ToFirstQueryAsync(image, new MicroVmOptions { StartTimeout = TimeSpan.FromMinutes(10) }, query, cancellationToken));
        }
        var cold = new List<double>();
        for (int i = 0; i < ColdRuns; i++)
        {
            cold.Add(await ToFirstQueryAsync(image, new MicroVmOptions { ColdBoot = true, StartTimeout = TimeSpan.FromMinutes(15) }, query, cancellationToken));
        }
        double r = Median(restore), c = Median(cold);
        context.Row(what, Ms(r), Ms(c), $"{r / c:F3} (1/{c / r:F0})");
    }

    private static async Task<double> ToFirstQueryAsync(MicroVmImage image, MicroVmOptions options, Func<MicroVm, CancellationToken, Task> query, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await using MicroVm vm = await MicroVm.StartAsync(image, options, cancellationToken);
        await query(vm, cancellationToken);
        return clock.Elapsed.TotalMilliseconds;
    }

    private static async Task PostgresQueryAsync(MicroVm vm, CancellationToken cancellationToken)
    {
        IPEndPoint endpoint = vm.GetEndpoint(5432);
        await using var connection = new NpgsqlConnection($"Host={endpoint.Address};Port={endpoint.Port};Username=postgres;Password={DebianBakes.PostgresPassword};Database=app;Timeout=60;Pooling=false");
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM warm", connection);
        if ((long)(await command.ExecuteScalarAsync(cancellationToken))! != 100)
        {
            throw new InvalidOperationException("the warmup's rows are not there");
        }
    }

    private static async Task MariaDbQueryAsync(MicroVm vm, CancellationToken cancellationToken)
    {
        IPEndPoint endpoint = vm.GetEndpoint(3306);
        await using var connection = new MySqlConnection($"Server={endpoint.Address};Port={endpoint.Port};User ID=app;Password={DebianBakes.MariaDbPassword};Database=app;Connection Timeout=60;Pooling=false");
        await connection.OpenAsync(cancellationToken);
        await using var command = new MySqlCommand("SELECT 1", connection);
        if (Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) != 1)
        {
            throw new InvalidOperationException("MariaDB did not answer 1");
        }
    }
}
