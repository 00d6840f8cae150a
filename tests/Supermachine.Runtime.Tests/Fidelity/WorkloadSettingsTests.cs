using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Tests.Guest;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// The runtime settings WORKLOAD_START carries, against the real agent in host test mode (no VM;
/// the agent validates them there but changes nothing of the host's).
/// </summary>
public class WorkloadSettingsTests
{
    [RequiresToolFact("musl-gcc")]
    public async Task A_bad_hostname_or_shm_size_refuses_the_workload_with_the_agents_reason()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        var bad = await Assert.ThrowsAsync<SupermachineException>(() => c.StartWorkloadAsync(new WorkloadSpec { Arguments = ["true"], Hostname = "no_underscores" }));
        Assert.Equal(Errors.Codes.WorkloadCouldNotStart, bad.Code);
        Assert.Contains("hostname 'no_underscores'", bad.Message);
        var shm = await Assert.ThrowsAsync<SupermachineException>(() => c.StartWorkloadAsync(new WorkloadSpec { Arguments = ["true"], ShmMiB = 0 }));
        Assert.Contains("shm_mib", shm.Message);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Valid_settings_start_the_workload()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        int pid = await c.StartWorkloadAsync(new WorkloadSpec { Arguments = ["sh", "-c", "echo started; exec sleep 30"], Environment = ["PATH=/usr/bin:/bin"], Hostname = "db.example", ShmMiB = 32 });
        Assert.True(pid > 0);
        await c.SignalWorkloadAsync(15);
    }
}
