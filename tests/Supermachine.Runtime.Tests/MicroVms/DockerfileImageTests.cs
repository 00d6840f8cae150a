using Supermachine.Images;
using Supermachine.Bake;
using Supermachine.Dockerfile.Building;
using Supermachine.Tests.Dockerfile;
using Supermachine.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Supermachine.Tests.MicroVms;

/// <summary>
/// The density check of seed 000: a RUN writes a 64 MiB random blob, its sha256 and a marker; the
/// build is committed to one squashfs and re-baked; a fresh boot and a restore of the committed
/// image both see the blob intact. The build VM's RAM snapshot is measured, never shipped.
/// </summary>
public class DockerfileImageTests(ITestOutputHelper output)
{
    private const string Dockerfile = """
        ARG BASE
        FROM ${BASE}
        RUN mkdir -p /data && dd if=/dev/urandom of=/data/blob bs=1M count=64 2>/dev/null && sha256sum /data/blob > /data/blob.sha256 && echo committed-density-ok > /data/marker
        CMD ["sleep", "100000"]
        """;

    private const string Check = "cat /data/marker; stat -c %s /data/blob; sha256sum -c /data/blob.sha256";

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_built_image_commits_to_a_squashfs_smaller_than_the_build_VMs_RAM_and_boots_and_restores_with_its_files()
    {
        string root = Directory.CreateTempSubdirectory("sm-density-").FullName;
        try
        {
            string context = Path.Combine(root, "context");
            Directory.CreateDirectory(context);
            File.WriteAllText(Path.Combine(context, "Dockerfile"), Dockerfile);
            string cache = Path.Combine(root, "cache");

            DockerfileBuildResult build = await DockerfileBuilder.BuildAsync(
                new DockerfileBuildRequest { ContextDirectory = context, BuildArgs = new Dictionary<string, string> { ["BASE"] = DockerfileBuilderTests.BaseImage } },
                new DockerfileBuildOptions { CacheDirectory = cache, MeasureBuildVmSnapshot = true, Progress = output.WriteLine });
            SnapshotSize ram = build.BuildVmSnapshot ?? throw new Xunit.Sdk.XunitException("the build VM's snapshot was not measured");

            MicroVmImageRequest request = MicroVmImageRequest.FromMetadata("density", k => k switch
            {
                "Dockerfile" => Path.Combine(context, "Dockerfile"),
                "BuildArgs" => "BASE=" + DockerfileBuilderTests.BaseImage,
                _ => null,
            }).WithFullPaths(root);
            StoredImage image = await ImageBaker.BakeAsync(request, Path.Combine(root, "density"), new BakeOptions { CacheDirectory = cache, Progress = output.WriteLine });
            Assert.Equal(build.Image.ManifestDigest, image.Manifest.ImageDigest);

            long squashfs = new FileInfo(image.RootfsPath).Length;
            long artifact = Directory.GetFiles(image.Directory, "*", SearchOption.AllDirectories).Sum(Supermachine.FileSystem.DirectoryTreeReader.AllocatedBytes);
            output.WriteLine($"build VM RAM snapshot: {ram.AllocatedBytes / 1048576.0:F1} MiB on disk ({ram.ApparentBytes / 1048576.0:F0} MiB as a full dump); committed squashfs: {squashfs / 1048576.0:F1} MiB; final artifact: {artifact / 1048576.0:F1} MiB on disk");
            Assert.True(squashfs >= 64L << 20, "the committed squashfs holds the 64 MiB blob (random data does not compress)");
            Assert.True(squashfs <= 0.6 * ram.AllocatedBytes, $"committed squashfs {squashfs} bytes is at most 0.6x the build VM's RAM snapshot ({ram.AllocatedBytes} bytes on disk)");

            foreach (bool coldBoot in new[] { true, false })
            {
                await using MicroVm vm = await MicroVm.StartAsync(new MicroVmImage(image), new MicroVmOptions { ColdBoot = coldBoot });
                Assert.Equal(!coldBoot, vm.Restored);
                var result = await vm.ExecAsync(["sh", "-c", Check]);
                Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
                Assert.Contains("committed-density-ok", result.StandardOutput);
                Assert.Contains((64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), result.StandardOutput);
                Assert.Contains("/data/blob: OK", result.StandardOutput);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
