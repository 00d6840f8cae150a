using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.MicroVms;

namespace Supermachine.Tests.Network;

/// <summary>The NIC is part of a snapshot: a NAT-baked image does not restore without one.</summary>
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
}
