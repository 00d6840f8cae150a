using System.Diagnostics;
using Supermachine.Bake;
using Supermachine.Images;
using Supermachine.Vmm;
using static Supermachine.Bench.VmBenchSupport;

namespace Supermachine.Bench;

/// <summary>
/// The two guests of the fixture index 'multi' (busybox for linux/amd64 and linux/arm64) side by
/// side in one run: cold boot and restore, each to the first exec result. On an x64 host the arm64
/// guest is emulated (TCG) and the amd64 one runs with whatever accelerator the host has; the runs
/// alternate so both see the same machine load.
/// </summary>
public sealed class Arm64Bench : IBenchmark
{
    private const int ColdRuns = 3;
    private const int RestoreRuns = 5;

    public string Name => "arm64";

    public string Description => "arm64 vs amd64 guest of one index: cold boot and restore to first exec";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        string reference = FixtureImage("multi");
        var images = new Dictionary<GuestArchitecture, MicroVmImage>();
        foreach (GuestArchitecture arch in new[] { GuestArchitecture.Arm64, GuestArchitecture.Amd64 })
        {
            var bake = Stopwatch.StartNew();
            images[arch] = new MicroVmImage(await ImageBaker.BakeAsync(
                MicroVmImageRequest.FromMetadata(reference, k => k switch { "Name" => "multi-" + arch.Name, "Platform" => arch.Platform, "Command" => "sleep 100000", _ => null }),
                Path.Combine(context.WorkDirectory, arch.Name),
                new BakeOptions { CacheDirectory = Path.Combine(context.WorkDirectory, "cache"), UseCache = false },
                cancellationToken));
            context.Report.WriteLine($"{arch.Platform}: baked in {bake.Elapsed.TotalSeconds:F1} s, accelerator {new Vmm.Qemu.QemuBackend().ChooseAccelerator(null, arch)}");
            // Hash check once, outside every timing (a process pays it once per image).
            await (await MicroVm.StartAsync(images[arch], cancellationToken: cancellationToken)).DisposeAsync();
        }

        var cold = images.Keys.ToDictionary(a => a, _ => new List<double>());
        var restore = images.Keys.ToDictionary(a => a, _ => new List<double>());
        for (int i = 0; i < Math.Max(ColdRuns, RestoreRuns); i++)
        {
            foreach ((GuestArchitecture arch, MicroVmImage image) in images)
            {
                if (i < ColdRuns)
                {
                    cold[arch].Add(await MicroVmBench.ToFirstExecAsync(image, new MicroVmOptions { ColdBoot = true }, cancellationToken));
                }
                restore[arch].Add(await MicroVmBench.ToFirstExecAsync(image, null, cancellationToken));
            }
        }

        GuestArchitecture arm = GuestArchitecture.Arm64, amd = GuestArchitecture.Amd64;
        context.Report.WriteLine($"guest 256 MiB, 1 vCPU, busybox; cold runs {ColdRuns}, restore runs {RestoreRuns} each, medians; host {GuestArchitecture.Host.Platform}");
        context.Report.WriteLine("| what | arm64 guest | amd64 guest | arm64/amd64 |");
        context.Report.WriteLine("|---|---|---|---|");
        context.Row("cold boot to first exec", Ms(Median(cold[arm])), Ms(Median(cold[amd])), $"{Median(cold[arm]) / Median(cold[amd]):F2}x");
        context.Row("restore to first exec", Ms(Median(restore[arm])), Ms(Median(restore[amd])), $"{Median(restore[arm]) / Median(restore[amd]):F2}x");
        context.Row("snapshot on disk", $"{DiskUsage(Path.Combine(images[arm].Directory, ArtifactLayout.SnapshotDirectory)) / 1048576.0:F1} MiB", $"{DiskUsage(Path.Combine(images[amd].Directory, ArtifactLayout.SnapshotDirectory)) / 1048576.0:F1} MiB", "");
        context.Report.WriteLine($"all runs ms, cold arm64: {string.Join(", ", cold[arm].Select(v => v.ToString("F0")))}; cold amd64: {string.Join(", ", cold[amd].Select(v => v.ToString("F0")))}; restore arm64: {string.Join(", ", restore[arm].Select(v => v.ToString("F0")))}; restore amd64: {string.Join(", ", restore[amd].Select(v => v.ToString("F0")))}");
    }
}
