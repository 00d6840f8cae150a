using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;

namespace Supermachine.Tests.MicroVms;

/// <summary>A workload that dies or never listens fails the bake with its own words, and leaves nothing behind.</summary>
public class BakeFailureTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-bakefail-").FullName;

    private async Task<SupermachineException> BakeExpectingFailure(string command, TimeSpan readyTimeout)
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata($"oci-layout:{OciTestFixtures.Layout}:busybox",
            k => k switch { "Name" => "failing", "Port" => "7777", "Command" => command, _ => null });
        string output = Path.Combine(_root, "out");
        var e = await Assert.ThrowsAsync<SupermachineException>(() => ImageBaker.BakeAsync(request, output, new BakeOptions
        {
            CacheDirectory = Path.Combine(_root, "cache"),
            ReadyTimeout = readyTimeout,
        }));
        Assert.False(Directory.Exists(output), "a failed bake leaves no output directory");
        Assert.DoesNotContain(Directory.EnumerateDirectories(_root), d => d.Contains(".staging", StringComparison.Ordinal));
        return e;
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_workload_that_exits_fails_the_bake_with_its_log_tail()
    {
        SupermachineException e = await BakeExpectingFailure("sh -c 'echo boom-from-the-workload; exit 3'", TimeSpan.FromMinutes(3));
        Assert.Equal("SM3256", e.Code);
        Assert.Contains("boom-from-the-workload", e.Message);
        Assert.Contains("exited with code 3", e.Message);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_port_that_never_listens_fails_the_bake_naming_the_port()
    {
        SupermachineException e = await BakeExpectingFailure("sleep 600", TimeSpan.FromSeconds(15));
        Assert.Equal("SM3256", e.Code);
        Assert.Contains("port 7777 never listened", e.Message);
        Assert.Contains("still running", e.Message);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
