using Supermachine.Images;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Supermachine.Bake;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;
using static Supermachine.Bench.VmBenchSupport;

namespace Supermachine.Bench;

/// <summary>
/// The public API end to end on the fixture redis image baked with port 6379: cold boot vs restore
/// to the first exec result and to a redis PING through the forwarded port, a pool acquire to
/// PING, the snapshot's size on disk against guest RAM, and the resident memory of one restored
/// engine. Also the restore's parts (engine start, state load, resume, agent hello) that an
/// estimate for real KVM is made from.
/// </summary>
public sealed class MicroVmBench : IBenchmark
{
    private const int ColdRuns = 3;
    private const int RestoreRuns = 7;

    public string Name => "microvm";

    public string Description => "MicroVm API: cold boot vs restore vs pool acquire, to first exec and to redis PING; snapshot size; RSS";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        TextWriter report = context.Report;
        string reference = FixtureReference("redis");
        var bakeClock = Stopwatch.StartNew();
        MicroVmImage image = new(await ImageBaker.BakeAsync(
            MicroVmImageRequest.FromMetadata(reference, k => k switch { "Name" => "redis", "Port" => "6379", _ => null }),
            Path.Combine(context.WorkDirectory, "redis"),
            new BakeOptions { CacheDirectory = Path.Combine(context.WorkDirectory, "cache") },
            cancellationToken));
        var backend = new QemuBackend();
        int memoryMiB = image.Manifest.Machine.MemoryMiB;
        report.WriteLine($"fixture redis baked in {bakeClock.Elapsed.TotalSeconds:F1} s; guest {memoryMiB} MiB, {image.Manifest.Machine.Vcpus} vCPU, accelerator {backend.ChooseAccelerator()}");
        // Hash check once, outside every timing (a process pays it once per image).
        await (await MicroVm.StartAsync(image, cancellationToken: cancellationToken)).DisposeAsync();

        var cold = new MicroVmOptions { ColdBoot = true };
        var coldExec = new List<double>();
        var coldPing = new List<double>();
        for (int i = 0; i < ColdRuns; i++)
        {
            coldExec.Add(await ToFirstExecAsync(image, cold, cancellationToken));
            coldPing.Add(await ToPingAsync(image, cold, cancellationToken));
        }

        var restoreExec = new List<double>();
        var restorePing = new List<double>();
        for (int i = 0; i < RestoreRuns; i++)
        {
            restoreExec.Add(await ToFirstExecAsync(image, null, cancellationToken));
            restorePing.Add(await ToPingAsync(image, null, cancellationToken));
        }

        var acquirePing = new List<double>();
        var acquireOnly = new List<double>();
        var quietPing = new List<double>();
        await using (var pool = new MicroVmPool(image, new MicroVmPoolOptions { MinIdle = 1, Max = 2 }))
        {
            for (int i = 0; i < RestoreRuns; i++)
            {
                await pool.WarmUpAsync(cancellationToken);
                var clock = Stopwatch.StartNew();
                await using MicroVmLease lease = await pool.AcquireAsync(cancellationToken);
                acquireOnly.Add(clock.Elapsed.TotalMilliseconds);
                await PingAsync(lease.Vm.GetEndpoint(6379), cancellationToken);
                acquirePing.Add(clock.Elapsed.TotalMilliseconds);
                // The first PING shares the CPUs with the replacement restore the acquire started;
                // once that is done, a PING on a new connection shows the VM's own cost.
                await pool.WarmUpAsync(cancellationToken);
                var quiet = Stopwatch.StartNew();
                await PingAsync(lease.Vm.GetEndpoint(6379), cancellationToken);
                quietPing.Add(quiet.Elapsed.TotalMilliseconds);
            }
        }

        // The restore's parts, from the engine's own marks, plus the agent hello MicroVm adds.
        var parts = new Dictionary<string, List<double>>();
        var engineOnly = new List<double>();
        (double Total, double Anon, double File, double Pss) rss = default;
        for (int i = 0; i < RestoreRuns; i++)
        {
            var clock = Stopwatch.StartNew();
            await using IVirtualMachine machine = await backend.RestoreAsync(Spec(image), image.Stored.SnapshotPath, cancellationToken);
            engineOnly.Add(clock.Elapsed.TotalMilliseconds);
            foreach ((string step, TimeSpan at) in ((QemuMachine)machine).Timings)
            {
                (parts.TryGetValue(step, out var l) ? l : parts[step] = []).Add(at.TotalMilliseconds);
            }
        }
        await using (MicroVm vm = await MicroVm.StartAsync(image, cancellationToken: cancellationToken))
        {
            await PingAsync(vm.GetEndpoint(6379), cancellationToken);
            if (EnginePid(image.Directory) is int pid)
            {
                rss = Memory(pid);
            }
        }

        double ce = Median(coldExec), cp = Median(coldPing), re = Median(restoreExec), rp = Median(restorePing), ap = Median(acquirePing);
        report.WriteLine($"medians of {ColdRuns} cold and {RestoreRuns} restore/acquire runs; load average now {File.ReadAllText("/proc/loadavg").Split(' ')[0]} on {Environment.ProcessorCount} cores");
        report.WriteLine("| what | ours | cold boot | ratio (ours/cold) |");
        report.WriteLine("|---|---|---|---|");
        context.Row("restore → first exec result", Ms(re), Ms(ce), $"{re / ce:F3} (1/{ce / re:F0})");
        context.Row("restore → redis PING via forwarded port", Ms(rp), Ms(cp), $"{rp / cp:F3} (1/{cp / rp:F0})");
        context.Row("pool acquire → redis PING", Ms(ap), Ms(cp), $"{ap / cp:F4} (1/{cp / ap:F0})");
        context.Row("pool acquire alone", $"{Median(acquireOnly):F3} ms", "", "");
        context.Row("PING on a leased VM, new connection, no restore running beside it", $"{Median(quietPing):F1} ms", "", "");
        context.Row("engine restore alone (no agent hello)", Ms(Median(engineOnly)), "", "");
        report.WriteLine($"| restore parts (median ms from the call) | {string.Join(", ", parts.Select(p => $"{p.Key} {Median(p.Value):F0}"))} | | |");
        long snapshotBytes = DiskUsage(image.Stored.SnapshotPath);
        long imageBytes = DiskUsage(image.Directory);
        context.Row("snapshot on disk (du) vs guest RAM", $"{snapshotBytes / 1048576.0:F1} MiB", $"{memoryMiB} MiB", $"{snapshotBytes / (memoryMiB * 1048576.0):F3}");
        context.Row("whole image dir on disk (rootfs, kernel, initramfs, snapshot)", $"{imageBytes / 1048576.0:F1} MiB", "", "");
        context.Row("RSS of one restored qemu after PING (total/anon/file+shmem; PSS)", $"{rss.Total:F0}/{rss.Anon:F0}/{rss.File:F0}; {rss.Pss:F0} MiB", $"{memoryMiB} MiB", $"{rss.Total / memoryMiB:F2}");
        report.WriteLine($"raw: cold exec [{string.Join(", ", coldExec.Select(v => v.ToString("F0")))}], cold ping [{string.Join(", ", coldPing.Select(v => v.ToString("F0")))}], restore exec [{string.Join(", ", restoreExec.Select(v => v.ToString("F0")))}], restore ping [{string.Join(", ", restorePing.Select(v => v.ToString("F0")))}], acquire ping [{string.Join(", ", acquirePing.Select(v => v.ToString("F1")))}]");
    }

    private static async Task<double> ToFirstExecAsync(MicroVmImage image, MicroVmOptions? options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await using MicroVm vm = await MicroVm.StartAsync(image, options, cancellationToken);
        ExecResult result = await vm.ExecAsync(["echo", "ready"], cancellationToken);
        double ms = clock.Elapsed.TotalMilliseconds;
        if (result.StandardOutput != "ready\n")
        {
            throw new InvalidOperationException($"exec answered '{result.StandardOutput}' ({result.ExitCode}): {result.StandardError}");
        }
        return ms;
    }

    private static async Task<double> ToPingAsync(MicroVmImage image, MicroVmOptions? options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await using MicroVm vm = await MicroVm.StartAsync(image, options, cancellationToken);
        await PingAsync(vm.GetEndpoint(6379), cancellationToken);
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>One RESP PING over a new connection, as a client's first request would be.</summary>
    private static async Task PingAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(endpoint, cancellationToken);
        NetworkStream stream = tcp.GetStream();
        await stream.WriteAsync("PING\r\n"u8.ToArray(), cancellationToken);
        byte[] reply = new byte[7];
        await stream.ReadExactlyAsync(reply, cancellationToken);
        if (Encoding.ASCII.GetString(reply) != "+PONG\r\n")
        {
            throw new InvalidOperationException("redis answered " + Encoding.ASCII.GetString(reply));
        }
    }

    private static VmMachineSpec Spec(MicroVmImage image) => new()
    {
        KernelPath = image.Stored.KernelPath,
        InitrdPath = image.Stored.InitramfsPath,
        RootfsPath = image.Stored.RootfsPath,
        MemoryMiB = image.Manifest.Machine.MemoryMiB,
        Vcpus = image.Manifest.Machine.Vcpus,
    };

    /// <summary>The one engine process (argv[0] is QEMU) whose command line names the image.</summary>
    private static int? EnginePid(string imageDirectory)
    {
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out int pid))
            {
                try
                {
                    string cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                    if (cmdline.Split('\0')[0].Contains("qemu-system", StringComparison.Ordinal) && cmdline.Contains(imageDirectory + "/", StringComparison.Ordinal))
                    {
                        return pid;
                    }
                }
                catch (IOException)
                {
                }
            }
        }
        return null;
    }

    private static (double Total, double Anon, double File, double Pss) Memory(int pid)
    {
        (double total, double anon, double file) = Rss(pid);
        double pss = File.ReadLines($"/proc/{pid}/smaps_rollup")
            .Where(l => l.StartsWith("Pss:", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024)
            .FirstOrDefault();
        return (total, anon, file, pss);
    }
}
