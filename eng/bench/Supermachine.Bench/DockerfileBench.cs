using Supermachine.Images;
using System.Diagnostics;
using Supermachine.Bake;
using Supermachine.Dockerfile.Building;
using static Supermachine.Bench.VmBenchSupport;

namespace Supermachine.Bench;

/// <summary>
/// The Dockerfile builder on seed 000's density Dockerfile (a RUN writes a 64 MiB random blob, its
/// sha256 and a marker) over the fixture busybox image: a cold build against a cached rebuild of
/// the same inputs, and the density of what ships: the committed squashfs against the build VM's
/// RAM snapshot (what a snapshot-the-builder design would ship), and the final baked artifact.
/// </summary>
public sealed class DockerfileBench : IBenchmark
{
    private const string Dockerfile = """
        ARG BASE
        FROM ${BASE}
        RUN mkdir -p /data && dd if=/dev/urandom of=/data/blob bs=1M count=64 2>/dev/null && sha256sum /data/blob > /data/blob.sha256 && echo committed-density-ok > /data/marker
        CMD ["sleep", "100000"]
        """;

    public string Name => "dockerfile";

    public string Description => "Dockerfile build: cold vs cached rebuild; committed squashfs vs the build VM's RAM snapshot";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        string baseImage = FixtureImage("busybox");
        string contextDirectory = Path.Combine(context.WorkDirectory, "context");
        Directory.CreateDirectory(contextDirectory);
        File.WriteAllText(Path.Combine(contextDirectory, "Dockerfile"), Dockerfile);
        string cache = Path.Combine(context.WorkDirectory, "cache");
        var request = new DockerfileBuildRequest { ContextDirectory = contextDirectory, BuildArgs = new Dictionary<string, string> { ["BASE"] = baseImage } };

        var clock = Stopwatch.StartNew();
        DockerfileBuildResult cold = await DockerfileBuilder.BuildAsync(request, new DockerfileBuildOptions { CacheDirectory = cache, MeasureBuildVmSnapshot = true }, cancellationToken);
        double coldMs = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        DockerfileBuildResult cached = await DockerfileBuilder.BuildAsync(request, new DockerfileBuildOptions { CacheDirectory = cache }, cancellationToken);
        double cachedMs = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        StoredImage image = await ImageBaker.BakeAsync(
            MicroVmImageRequest.FromMetadata("density", k => k switch
            {
                "Dockerfile" => Path.Combine(contextDirectory, "Dockerfile"),
                "BuildArgs" => "BASE=" + baseImage,
                _ => null,
            }).WithFullPaths(contextDirectory),
            Path.Combine(context.WorkDirectory, "density"),
            new BakeOptions { CacheDirectory = cache },
            cancellationToken);
        double bakeMs = clock.Elapsed.TotalMilliseconds;

        SnapshotSize ram = cold.BuildVmSnapshot!;
        long squashfs = new FileInfo(image.RootfsPath).Length;
        long artifact = DiskUsage(image.Directory);
        double MiB(long bytes) => bytes / 1048576.0;
        context.Report.WriteLine($"Machine: {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; build VM 1024 MiB, {cold.VmBoots} boot(s).");
        context.Report.WriteLine();
        context.Report.WriteLine("| what | ours | peer | ratio |");
        context.Report.WriteLine("|---|---|---|---|");
        context.Row("build: cached rebuild vs cold build", Ms(cachedMs), Ms(coldMs), $"{cachedMs / coldMs:F3}");
        context.Row("committed squashfs vs build VM RAM snapshot (on disk)", $"{MiB(squashfs):F1} MiB", $"{MiB(ram.AllocatedBytes):F1} MiB", $"{(double)squashfs / ram.AllocatedBytes:F2}");
        context.Row("committed squashfs vs build VM RAM snapshot (full dump)", $"{MiB(squashfs):F1} MiB", $"{MiB(ram.ApparentBytes):F0} MiB", $"{(double)squashfs / ram.ApparentBytes:F3}");
        context.Report.WriteLine();
        context.Report.WriteLine($"Final artifact (rootfs + kernel + initramfs + its own 256 MiB-guest snapshot): {MiB(artifact):F1} MiB on disk; bake from the cached build {bakeMs / 1000:F1} s. Cached rebuild ran {cached.ExecutedSteps} steps and booted {cached.VmBoots} VMs.");
    }
}
