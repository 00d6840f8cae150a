using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Tests.Guest;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Network;

/// <summary>The agent's NETWORK request (host test mode: it checks, and leaves the host's interfaces alone).</summary>
public class NetworkRequestTests
{
    [RequiresToolFact("musl-gcc")]
    public async Task The_agent_takes_an_identity_with_hosts_lines_and_refuses_malformed_ones()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        await c.ConfigureNetworkAsync("10.89.0.7/24", ["10.89.0.2 db", "10.89.0.7 app web.local"]);
        await c.ConfigureNetworkAsync("", []); // leaving

        string[][] malformed = [["db 10.89.0.2"], ["10.89.0.2"], ["10.89.0.2 under_score"], ["10.89.0.2 db\n10.0.0.1 injected"], [new string('a', 600)]];
        foreach (string[] lines in malformed)
        {
            var e = await Assert.ThrowsAsync<SupermachineException>(() => c.ConfigureNetworkAsync("10.89.0.7/24", lines));
            Assert.Equal(Errors.Codes.GuestOperationFailed, e.Code);
        }
        // The connection still serves after the refusals.
        Assert.Equal(0, (await c.ExecAsync(new ExecRequest(["true"]))).ExitCode);
    }
}
