using Supermachine.Bake;
using Supermachine.Tests.Dockerfile;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// Stopping a VM is `docker stop`: the image's STOPSIGNAL, a grace period (StopTimeout), then kill.
/// </summary>
public class StopSignalTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-stopsignal-").FullName;

    private async Task<MicroVmImage> BakeAsync(string name, string traps, string? stopTimeout)
    {
        string context = Path.Combine(_root, name);
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $$"""
            ARG BASE
            FROM ${BASE}
            STOPSIGNAL SIGINT
            CMD ["sh", "-c", "{{traps}} echo ready; while :; do sleep 1; done"]
            """);
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(name, k => k switch
        {
            "Dockerfile" => Path.Combine(context, "Dockerfile"),
            "BuildArgs" => "BASE=" + DockerfileBuilderTests.BaseImage,
            "StopTimeout" => stopTimeout,
            _ => null,
        }).WithFullPaths(_root);
        return new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(_root, name + "-out"), new BakeOptions { CacheDirectory = Path.Combine(_root, "cache") }));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Stop_sends_the_images_STOPSIGNAL_and_the_workload_exits_cleanly()
    {
        MicroVmImage image = await BakeAsync("stopper", "trap 'echo got SIGINT; exit 0' INT; trap 'echo got SIGTERM; exit 1' TERM;", null);
        Assert.Equal(2, image.Manifest.Workload.StopSignal);
        Assert.Equal(10, image.Manifest.Workload.StopTimeout);
        MicroVm vm = await MicroVm.StartAsync(image);
        await WorkloadLogWait.UntilContainsAsync(vm, "ready");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        WorkloadLog? last = await vm.StopAsync();
        Assert.NotNull(last);
        Assert.Contains("got SIGINT", last.Text);
        Assert.DoesNotContain("got SIGTERM", last.Text);
        Assert.True(last.Exited, last.Text);
        Assert.Equal(0, last.ExitCode);
        Assert.Null(last.Signal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"a workload that exits at once is not waited for ({clock.Elapsed})");
        await vm.DisposeAsync(); // already stopped: nothing more to do
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_workload_that_ignores_its_STOPSIGNAL_is_killed_after_StopTimeout()
    {
        MicroVmImage image = await BakeAsync("stubborn", "trap 'echo ignoring SIGINT' INT;", "2");
        MicroVm vm = await MicroVm.StartAsync(image);
        await WorkloadLogWait.UntilContainsAsync(vm, "ready");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        WorkloadLog? last = await vm.StopAsync();
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2), $"waited the grace period ({clock.Elapsed})");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"then killed it ({clock.Elapsed})");
        Assert.NotNull(last);
        Assert.True(last.Running, "it was still running when the VM was killed");
        Assert.Contains("ignoring SIGINT", last.Text);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
