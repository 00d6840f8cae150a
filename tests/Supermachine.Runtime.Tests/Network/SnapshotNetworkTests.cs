using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.MicroVms;

namespace Supermachine.Tests.Network;

/// <summary>The NIC is part of a snapshot, and a restore has outbound network at once, each with a NAT of its own.</summary>
[Collection(BakedRedisCollection.Name)]
public class SnapshotNetworkTests(BakedRedis baked)
{
    [RequiresToolFact("qemu-system-x86_64", "passt")]
    public async Task A_snapshot_baked_with_the_NAT_refuses_network_none_with_SM3062()
    {
        var e = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(baked.Image, new MicroVmOptions { Network = "none" }));
        Assert.Equal("SM3062", e.Code);
        Assert.Contains(baked.Image.Name, e.Message);
    }

    /// <summary>The MD5 of <paramref name="file"/> from the namespace host, downloaded in the guest (the redis fixture has busybox).</summary>
    internal static Task<ExecResult> DownloadMd5Async(MicroVm vm, NamespaceHost remote, string file) =>
        vm.ExecAsync(new ExecRequest(["busybox", "sh", "-c", $"busybox wget -q -O - {remote.Url(file)} | busybox md5sum | busybox cut -d' ' -f1"]) { Timeout = TimeSpan.FromSeconds(60) });

    [RequiresRootFact("qemu-system-x86_64", "passt", "ip", "busybox")]
    public async Task Four_concurrent_restores_each_download_from_a_remote_host_right_after_the_restore()
    {
        await using NamespaceHost remote = await NamespaceHost.StartAsync();
        byte[] file = remote.ServeRandom("after-restore.bin", 512 << 10);
        string md5 = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(file));
        MicroVmNetwork network = MicroVmNetwork.CreateUnique();

        async Task RestoreAndDownloadAsync(int i)
        {
            // Two of the four also join a private network: the NAT works beside it.
            await using MicroVm vm = await MicroVm.StartAsync(baked.Image, new MicroVmOptions { Network = i % 2 == 0 ? network : null, Aliases = i % 2 == 0 ? [$"m{i}"] : [] });
            Assert.True(vm.Restored);
            ExecResult r = await DownloadMd5Async(vm, remote, "after-restore.bin");
            Assert.True(r.ExitCode == 0, r.StandardError);
            Assert.Equal(md5, r.StandardOutput.Trim());
        }
        await Task.WhenAll(Enumerable.Range(0, 4).Select(RestoreAndDownloadAsync));
    }
}
