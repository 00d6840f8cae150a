using System.Diagnostics;
using Supermachine.Tests.Vmm;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;
using static Supermachine.Bench.VmBenchSupport;

namespace Supermachine.Bench;

/// <summary>
/// Cold boot through our engine (QemuBackend: owner-watch, QMP, virtio disk and serial port) to
/// the guest's marker and to the first answer over the agent channel, against raw
/// qemu-system-x86_64 booting the same kernel and initramfs straight to an /init that powers off.
/// </summary>
public sealed class BootBench : IBenchmark
{
    private const int Runs = 3;

    public string Name => "boot";

    public string Description => "cold boot: QemuBackend to marker/first channel answer vs raw QEMU to poweroff";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        var backend = new QemuBackend(new QemuBackendOptions { Log = m => context.Report.WriteLine("engine: " + m) });
        VmMachineSpec spec = VmTestAssets.ServingMachine();
        string poweroff = VmTestAssets.BuildInitramfs("poweroff", "#!/bin/sh\n/bin/busybox poweroff -f\n");
        var ours = new List<(double Marker, double Answer)>();
        var raw = new List<double>();
        for (int i = 0; i < Runs; i++)
        {
            raw.Add(await RawBootAsync(backend.QemuPath, spec.KernelPath, poweroff, context.WorkDirectory));
            var clock = Stopwatch.StartNew();
            await using IVirtualMachine vm = await backend.StartAsync(spec, cancellationToken);
            await vm.WaitForConsoleAsync(VmTestAssets.BootMarker, TimeSpan.FromMinutes(3), cancellationToken);
            double marker = clock.Elapsed.TotalMilliseconds;
            await using (Stream channel = await vm.ConnectAgentAsync(cancellationToken))
            {
                await VmTestAssets.RunInGuestAsync(channel, "echo ready");
            }
            ours.Add((marker, clock.Elapsed.TotalMilliseconds));
        }
        double rawMedian = Median(raw);
        context.Report.WriteLine($"runs: {Runs}, median; guest 256 MiB, 1 vCPU, accelerator {backend.ChooseAccelerator()}");
        context.Report.WriteLine("| what | ours | raw qemu | ratio |");
        context.Report.WriteLine("|---|---|---|---|");
        context.Row("cold boot to marker (ours) vs to poweroff (raw)", Ms(Median(ours.Select(o => o.Marker))), Ms(rawMedian), $"{Median(ours.Select(o => o.Marker)) / rawMedian:F2}x");
        context.Row("cold boot to first channel answer vs to poweroff", Ms(Median(ours.Select(o => o.Answer))), Ms(rawMedian), $"{Median(ours.Select(o => o.Answer)) / rawMedian:F2}x");
        context.Report.WriteLine($"all runs, ours marker/answer ms: {string.Join(", ", ours.Select(o => $"{o.Marker:F0}/{o.Answer:F0}"))}; raw ms: {string.Join(", ", raw.Select(r => r.ToString("F0")))}");
    }

    private static async Task<double> RawBootAsync(string qemu, string kernel, string initrd, string work)
    {
        var start = new ProcessStartInfo(qemu) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[]
        {
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-machine", "q35", "-accel", "tcg",
            "-cpu", GuestArchitecture.Amd64.CpuModel(Accelerator.Tcg), "-m", "256M", "-kernel", kernel, "-initrd", initrd,
            "-append", GuestArchitecture.Amd64.BaseKernelArguments, "-serial", "file:" + Path.Combine(work, "raw-console.log"),
        })
        {
            start.ArgumentList.Add(a);
        }
        var clock = Stopwatch.StartNew();
        using Process p = Process.Start(start)!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return clock.Elapsed.TotalMilliseconds;
    }
}
