using System.Diagnostics;
using Supermachine.Tests.Vmm;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;
using static Supermachine.Bench.VmBenchSupport;

namespace Supermachine.Bench;

/// <summary>
/// Cold boot vs restore to the first answer over the agent channel, for both snapshot layouts:
/// a plain migration stream (all RAM copied in on every restore) and file-backed guest RAM mapped
/// privately with x-ignore-shared (only touched pages are read). Also the snapshot's size on disk
/// against guest RAM, and the resident memory of one restored QEMU.
/// </summary>
public sealed class RestoreBench : IBenchmark
{
    private const int ColdRuns = 2;
    private const int RestoreRuns = 5;

    public string Name => "restore";

    public string Description => "cold boot vs restore (plain migration vs mapped RAM file): time, snapshot size, RSS";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var backend = new QemuBackend();
        var cold = new List<double>();
        var dirs = new Dictionary<VmSnapshotMode, string>();
        foreach (VmSnapshotMode mode in new[] { VmSnapshotMode.MappedRam, VmSnapshotMode.Migration })
        {
            for (int i = 0; i < ColdRuns / 2 + 1; i++)
            {
                var clock = Stopwatch.StartNew();
                await using IVirtualMachine vm = await backend.StartAsync(VmTestAssets.ServingMachine(snapshottable: true, mode), cancellationToken);
                await vm.WaitForConsoleAsync(VmTestAssets.BootMarker, TimeSpan.FromMinutes(3), cancellationToken);
                await using (Stream channel = await vm.ConnectAgentAsync(cancellationToken))
                {
                    await VmTestAssets.RunInGuestAsync(channel, "echo state > /tmp/state");
                }
                cold.Add(clock.Elapsed.TotalMilliseconds);
                if (!dirs.ContainsKey(mode))
                {
                    string dir = Path.Combine(context.WorkDirectory, mode.ToString());
                    var save = Stopwatch.StartNew();
                    await vm.SaveSnapshotAsync(dir, cancellationToken);
                    context.Report.WriteLine($"save ({mode}): {save.Elapsed.TotalMilliseconds:F0} ms");
                    dirs[mode] = dir;
                }
            }
        }
        double coldMedian = Median(cold);
        context.Report.WriteLine($"guest 256 MiB, 1 vCPU, accelerator {backend.ChooseAccelerator()}; cold runs {cold.Count}, restore runs {RestoreRuns} each, medians");
        context.Report.WriteLine("| what | restore | cold boot | restore/cold |");
        context.Report.WriteLine("|---|---|---|---|");
        foreach ((VmSnapshotMode mode, string dir) in dirs)
        {
            var first = new List<double>();
            var steps = new Dictionary<string, List<double>>();
            (double Total, double Anon, double File) rss = default;
            for (int i = 0; i < RestoreRuns; i++)
            {
                var clock = Stopwatch.StartNew();
                await using IVirtualMachine vm = await backend.RestoreAsync(VmTestAssets.ServingMachine(), dir, cancellationToken);
                await using (Stream channel = await vm.ConnectAgentAsync(cancellationToken))
                {
                    string state = await VmTestAssets.RunInGuestAsync(channel, "cat /tmp/state");
                    if (state != "state")
                    {
                        throw new InvalidOperationException($"restored guest lost its state: '{state}'");
                    }
                }
                first.Add(clock.Elapsed.TotalMilliseconds);
                foreach ((string step, TimeSpan at) in ((QemuMachine)vm).Timings)
                {
                    (steps.TryGetValue(step, out var l) ? l : steps[step] = []).Add(at.TotalMilliseconds);
                }
                if (i == RestoreRuns - 1 && QemuPid(vm) is int pid)
                {
                    rss = Rss(pid);
                }
            }
            double restore = Median(first);
            context.Row($"{mode}: restore to first channel answer", Ms(restore), Ms(coldMedian), $"1/{coldMedian / restore:F0} ({restore / coldMedian:F3})");
            var pooled = new List<double>();
            for (int i = 0; i < RestoreRuns; i++)
            {
                await using IPreparedRestore prepared = await backend.PrepareRestoreAsync(VmTestAssets.ServingMachine(), dir, cancellationToken);
                var clock = Stopwatch.StartNew();
                await using IVirtualMachine vm = await prepared.CompleteAsync(cancellationToken);
                await using Stream channel = await vm.ConnectAgentAsync(cancellationToken);
                await VmTestAssets.RunInGuestAsync(channel, "cat /tmp/state");
                pooled.Add(clock.Elapsed.TotalMilliseconds);
            }
            context.Row($"{mode}: pre-started QEMU (pool): complete to first answer", Ms(Median(pooled)), Ms(coldMedian), $"1/{coldMedian / Median(pooled):F0}");
            context.Report.WriteLine($"| {mode}: steps (median, from the call) | {string.Join(", ", steps.Select(s => $"{s.Key} {Median(s.Value):F0} ms"))} | | |");
            context.Report.WriteLine($"| {mode}: snapshot on disk vs guest RAM | {DiskUsage(dir) / 1048576.0:F1} MiB | 256 MiB | {DiskUsage(dir) / (256.0 * 1048576):F2} |");
            context.Report.WriteLine($"| {mode}: RSS of one restored qemu (total/anon/file) | {rss.Total:F0}/{rss.Anon:F0}/{rss.File:F0} MiB | | |");
        }
    }
}
