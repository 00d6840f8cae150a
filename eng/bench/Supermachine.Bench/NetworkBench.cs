using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Supermachine.Bake;
using Supermachine.Images;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Network;
using Supermachine.Vmm.Qemu;
using static Supermachine.Bench.VmBenchSupport;

namespace Supermachine.Bench;

/// <summary>
/// The guest network, side by side in one run: a 256 MiB download from a "remote host" (a network
/// namespace with busybox httpd) by the guest through passt, by curl on the host from the same
/// server, by the guest through the agent (a host port: host.supermachine.internal to a host
/// loopback server over the same files), and by the guest through QEMU's slirp instead of passt;
/// the first connection right after a restore against a second one; the bake and the restore of
/// the fixture redis with the NIC against --network none. Needs root (the namespace).
/// </summary>
public sealed class NetworkBench : IBenchmark
{
    private const int Runs = 3;
    private const int BigFileMiB = 256;

    public string Name => "network";

    public string Description => "guest download via passt vs host curl vs agent host port vs slirp; first connection after restore; NIC vs none bake/restore";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        TextWriter report = context.Report;
        string reference = FixtureImage("redis");

        // Bake with the NIC and without, each in a cache of its own (nothing shared between them).
        async Task<(MicroVmImage Image, double Ms)> BakeAsync(string network)
        {
            var clock = Stopwatch.StartNew();
            StoredImage stored = await ImageBaker.BakeAsync(
                MicroVmImageRequest.FromMetadata(reference, k => k switch { "Name" => "redis", "Port" => "6379", "Network" => network == "nat" ? null : network, _ => null }),
                Path.Combine(context.WorkDirectory, "redis-" + network),
                new BakeOptions { CacheDirectory = Path.Combine(context.WorkDirectory, "cache-" + network) },
                cancellationToken);
            return (new MicroVmImage(stored), clock.Elapsed.TotalMilliseconds);
        }
        (MicroVmImage nat, double natBake) = await BakeAsync("nat");
        (MicroVmImage none, double noneBake) = await BakeAsync("none");
        report.WriteLine($"fixture redis, guest {nat.Manifest.Machine.MemoryMiB} MiB, accelerator {new QemuBackend().ChooseAccelerator()}; medians of {Runs} runs");
        report.WriteLine("| what | ours | peer | ratio |");
        report.WriteLine("|---|---|---|---|");
        context.Row("bake with NIC (passt) vs --network none", Ms(natBake), Ms(noneBake), $"{natBake / noneBake:F2}");
        // Integrity check once per image, outside every timing.
        await (await MicroVm.StartAsync(nat, cancellationToken: cancellationToken)).DisposeAsync();
        await (await MicroVm.StartAsync(none, cancellationToken: cancellationToken)).DisposeAsync();
        var restoreNat = new List<double>();
        var restoreNone = new List<double>();
        for (int i = 0; i < Runs; i++)
        {
            await using (MicroVm vm = await MicroVm.StartAsync(nat, cancellationToken: cancellationToken))
            {
                restoreNat.Add(vm.StartDuration.TotalMilliseconds);
            }
            await using (MicroVm vm = await MicroVm.StartAsync(none, cancellationToken: cancellationToken))
            {
                restoreNone.Add(vm.StartDuration.TotalMilliseconds);
            }
        }
        context.Row("restore with NIC vs --network none", Ms(Median(restoreNat)), Ms(Median(restoreNone)), $"{Median(restoreNat) / Median(restoreNone):F2}");

        await using NamespaceHost remote = await NamespaceHost.StartAsync();
        remote.Serve("small.txt", "hello\n"u8.ToArray());
        remote.ServeRandom("big.bin", BigFileMiB << 20);

        // The first new connection after a restore (no DHCP, no ARP wait) against the next one. An
        // exec of busybox first, so the first GET does not also pay for paging busybox in.
        var firstExec = new List<double>();
        var first = new List<double>();
        var second = new List<double>();
        for (int i = 0; i < Runs; i++)
        {
            await using MicroVm vm = await MicroVm.StartAsync(nat, cancellationToken: cancellationToken);
            firstExec.Add((await vm.ExecAsync(["busybox", "true"], cancellationToken)).Duration.TotalMilliseconds);
            first.Add(await GuestFetchMsAsync(vm, remote.Url("small.txt"), cancellationToken));
            second.Add(await GuestFetchMsAsync(vm, remote.Url("small.txt"), cancellationToken));
        }
        context.Row("small GET right after restore (after one exec) vs the next one", Ms(Median(first)), Ms(Median(second)), $"{Median(first) / Median(second):F2}");
        context.Report.WriteLine($"| (the exec before it, first after restore) | {Ms(Median(firstExec))} | | |");

        // Throughput: guest via passt, host curl, guest via the agent's host-port relay, guest via slirp.
        var curl = new List<double>();
        for (int i = 0; i < Runs; i++)
        {
            ProcessResult r = await ProcessRunner.RunAsync("curl", ["-s", "-o", "/dev/null", "-w", "%{time_total}", remote.Url("big.bin")], timeout: TimeSpan.FromMinutes(5), cancellationToken: cancellationToken);
            curl.Add(double.Parse(r.StandardOutput, System.Globalization.CultureInfo.InvariantCulture) * 1000);
        }
        double passt = await GuestThroughputMsAsync(nat, new MicroVmOptions(), remote.Url("big.bin"), cancellationToken);
        context.Row($"{BigFileMiB} MiB: guest via passt vs host curl", MiBps(passt), MiBps(Median(curl)), $"{Median(curl) / passt:F3}");

        int port = FreePort();
        using Process loopback = Process.Start(new ProcessStartInfo("busybox", ["httpd", "-f", "-p", $"127.0.0.1:{port}", "-h", remote.Root]))!;
        try
        {
            await Task.Delay(500, cancellationToken);
            double relay = await GuestThroughputMsAsync(nat, new MicroVmOptions { HostPorts = [port] }, $"http://host.supermachine.internal:{port}/big.bin", cancellationToken);
            context.Row($"{BigFileMiB} MiB: guest via the agent (host port) vs via passt", MiBps(relay), MiBps(passt), $"{passt / relay:F3}");
        }
        finally
        {
            loopback.Kill();
            await loopback.WaitForExitAsync(cancellationToken);
        }

        // slirp (QEMU user mode) on the same device and guest identity; both cold-booted so the
        // restored guest's ARP entry for passt's MAC plays no part.
        var cold = new MicroVmOptions { ColdBoot = true };
        var slirp = new MicroVmOptions { ColdBoot = true, Backend = new QemuBackend(new QemuBackendOptions { SlirpNatForBenchmark = true }) };
        double passtCold = await GuestThroughputMsAsync(nat, cold, remote.Url("big.bin"), cancellationToken);
        double slirpCold = await GuestThroughputMsAsync(nat, slirp, remote.Url("big.bin"), cancellationToken);
        context.Row($"{BigFileMiB} MiB, cold-booted guest: passt vs slirp", MiBps(passtCold), MiBps(slirpCold), $"{slirpCold / passtCold:F3}");
        var passtSmall = new List<double>();
        var slirpSmall = new List<double>();
        await using (MicroVm vm = await MicroVm.StartAsync(nat, cold, cancellationToken))
        {
            for (int i = 0; i < Runs; i++)
            {
                passtSmall.Add(await GuestFetchMsAsync(vm, remote.Url("small.txt"), cancellationToken));
            }
        }
        await using (MicroVm vm = await MicroVm.StartAsync(nat, slirp, cancellationToken))
        {
            for (int i = 0; i < Runs; i++)
            {
                slirpSmall.Add(await GuestFetchMsAsync(vm, remote.Url("small.txt"), cancellationToken));
            }
        }
        context.Row("small GET latency: passt vs slirp", Ms(Median(passtSmall)), Ms(Median(slirpSmall)), $"{Median(passtSmall) / Median(slirpSmall):F2}");
    }

    private static string MiBps(double ms) => $"{BigFileMiB / (ms / 1000):F0} MiB/s";

    /// <summary>Milliseconds of one busybox wget in the guest, as the host sees the exec (its own cost included).</summary>
    private static async Task<double> GuestFetchMsAsync(MicroVm vm, string url, CancellationToken cancellationToken)
    {
        ExecResult r = await vm.ExecAsync(new ExecRequest(["busybox", "wget", "-O", "/dev/null", url]) { Timeout = TimeSpan.FromMinutes(10) }, cancellationToken);
        return r.ExitCode == 0 ? r.Duration.TotalMilliseconds : throw new InvalidOperationException($"wget {url}: exit {r.ExitCode} signal {r.Signal}: {r.StandardError}");
    }

    /// <summary>The median time of <see cref="Runs"/> downloads of <paramref name="url"/> in one VM started with <paramref name="options"/>.</summary>
    private static async Task<double> GuestThroughputMsAsync(MicroVmImage image, MicroVmOptions options, string url, CancellationToken cancellationToken)
    {
        await using MicroVm vm = await MicroVm.StartAsync(image, options, cancellationToken);
        var runs = new List<double>();
        for (int i = 0; i < Runs; i++)
        {
            runs.Add(await GuestFetchMsAsync(vm, url, cancellationToken));
        }
        return Median(runs);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
