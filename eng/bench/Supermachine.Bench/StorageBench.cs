using System.Diagnostics;
using Supermachine.Bake;
using Supermachine.Guest;
using Supermachine.Images;
using static Supermachine.Bench.VmBenchSupport;

namespace Supermachine.Bench;

/// <summary>
/// Storage (issue #17), side by side in one run: guest sequential write and read of 1 GiB on the
/// writable layer, on a named volume and on a host directory mount, against dd on the host's own
/// disk; the restore of a snapshot whose bake wrote 1 GiB against one whose bake wrote nothing;
/// the artifact's size on disk against the data written.
/// </summary>
public sealed class StorageBench : IBenchmark
{
    private const int SizeMiB = 1024;
    private const int RestoreRuns = 3;

    public string Name => "storage";

    public string Description => "1 GiB guest write/read: writable layer, volume, host mount vs host dd; restore time and artifact size vs data the bake wrote";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        TextWriter report = context.Report;
        string reference = FixtureImage("redis");
        // Random bytes: zeros would be left out of the snapshot's compact disk.
        string writeThenServe = $"sh -c 'busybox dd if=/dev/urandom of=/var/tmp/baked bs=1M count={SizeMiB} 2>/dev/null && exec redis-server --protected-mode no'";
        MicroVmImage empty = await BakeAsync(context, reference, "empty", null, cancellationToken);
        MicroVmImage wrote = await BakeAsync(context, reference, "wrote", writeThenServe, cancellationToken);

        string host = Directory.CreateDirectory(Path.Combine(context.WorkDirectory, "host")).FullName;
        string shared = Directory.CreateDirectory(Path.Combine(context.WorkDirectory, "shared")).FullName;
        (double hostWrite, double hostRead) = await HostDdAsync(Path.Combine(host, "f"), cancellationToken);
        File.Delete(Path.Combine(host, "f"));

        var rows = new List<(string Where, double Write, double Read)>();
        await using (MicroVm vm = await MicroVm.StartAsync(empty, new MicroVmOptions
        {
            Volumes = ["bench:/mnt/volume"],
            VolumeDirectory = Path.Combine(context.WorkDirectory, "volumes"),
            Mounts = [$"{shared}:/mnt/shared"],
        }, cancellationToken))
        {
            foreach ((string where, string path) in new[] { ("writable layer", "/var/tmp/f"), ("named volume", "/mnt/volume/f"), ("host directory (9p)", "/mnt/shared/f") })
            {
                (double write, double read) = await GuestDdAsync(vm, path, cancellationToken);
                rows.Add((where, write, read));
            }
        }

        report.WriteLine($"guest {empty.Manifest.Machine.MemoryMiB} MiB, {empty.Manifest.Machine.Vcpus} vCPU; {SizeMiB} MiB with dd bs=1M, written with conv=fsync, read after dropping the guest's page cache (the host's may still hold it); host peer: dd conv=fsync, read with iflag=direct");
        report.WriteLine("| what | guest | host dd | guest/host |");
        report.WriteLine("|---|---|---|---|");
        foreach ((string where, double write, double read) in rows)
        {
            context.Row($"sequential write, {where}", MiBps(write), MiBps(hostWrite), $"{hostWrite / write:F2}");
            context.Row($"sequential read, {where}", MiBps(read), MiBps(hostRead), $"{hostRead / read:F2}");
        }

        var restores = new Dictionary<string, List<double>> { ["empty"] = [], ["wrote"] = [] };
        for (int i = 0; i < RestoreRuns; i++)
        {
            foreach ((string name, MicroVmImage image) in new[] { ("empty", empty), ("wrote", wrote) })
            {
                await using MicroVm vm = await MicroVm.StartAsync(image, new MicroVmOptions { VerifyIntegrity = false }, cancellationToken);
                restores[name].Add(vm.StartDuration.TotalMilliseconds);
            }
        }
        double emptyRestore = Median(restores["empty"]), wroteRestore = Median(restores["wrote"]);
        context.Row($"restore, bake wrote {SizeMiB} MiB vs nothing (median of {RestoreRuns})", Ms(wroteRestore), Ms(emptyRestore), $"{wroteRestore / emptyRestore:F2}");
        long emptySize = DiskUsage(empty.Directory), wroteSize = DiskUsage(wrote.Directory);
        context.Row($"artifact on disk, bake wrote {SizeMiB} MiB vs nothing", $"{wroteSize / 1048576.0:F0} MiB", $"{emptySize / 1048576.0:F0} MiB", $"+{(wroteSize - emptySize) / 1048576.0:F0} MiB for {SizeMiB} MiB written");
    }

    private static async Task<MicroVmImage> BakeAsync(BenchContext context, string reference, string name, string? command, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var image = new MicroVmImage(await ImageBaker.BakeAsync(
            MicroVmImageRequest.FromMetadata(reference, k => k switch { "Name" => name, "Port" => "6379", "Command" => command, _ => null }),
            Path.Combine(context.WorkDirectory, name),
            new BakeOptions { CacheDirectory = Path.Combine(context.WorkDirectory, "cache") },
            cancellationToken));
        context.Report.WriteLine($"{name} baked in {clock.Elapsed.TotalSeconds:F1} s");
        return image;
    }

    /// <summary>Seconds to write, then to read, <see cref="SizeMiB"/> at <paramref name="path"/> in the guest.</summary>
    private static async Task<(double Write, double Read)> GuestDdAsync(MicroVm vm, string path, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await ShAsync(vm, $"busybox dd if=/dev/zero of={path} bs=1M count={SizeMiB} conv=fsync 2>/dev/null", cancellationToken);
        double write = clock.Elapsed.TotalSeconds;
        await ShAsync(vm, "busybox sync && echo 3 > /proc/sys/vm/drop_caches", cancellationToken);
        clock.Restart();
        await ShAsync(vm, $"busybox dd if={path} of=/dev/null bs=1M 2>/dev/null", cancellationToken);
        double read = clock.Elapsed.TotalSeconds;
        await ShAsync(vm, $"busybox rm -f {path}", cancellationToken);
        return (write, read);
    }

    private static async Task ShAsync(MicroVm vm, string script, CancellationToken cancellationToken)
    {
        ExecResult result = await vm.ExecAsync(new ExecRequest(["sh", "-c", script]) { User = "root" }, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{script}' exited with {result.ExitCode}: {result.StandardError}");
        }
    }

    private static async Task<(double Write, double Read)> HostDdAsync(string path, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await RunAsync("dd", ["if=/dev/zero", $"of={path}", "bs=1M", $"count={SizeMiB}", "conv=fsync", "status=none"], cancellationToken);
        double write = clock.Elapsed.TotalSeconds;
        clock.Restart();
        await RunAsync("dd", [$"if={path}", "of=/dev/null", "bs=1M", "iflag=direct", "status=none"], cancellationToken);
        return (write, clock.Elapsed.TotalSeconds);
    }

    private static async Task RunAsync(string tool, string[] arguments, CancellationToken cancellationToken)
    {
        using Process process = Process.Start(new ProcessStartInfo(tool, arguments) { UseShellExecute = false })!;
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} exited with {process.ExitCode}");
        }
    }

    private static string MiBps(double seconds) => $"{SizeMiB / seconds:F0} MiB/s";
}
