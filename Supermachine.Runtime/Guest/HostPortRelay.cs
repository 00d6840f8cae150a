using System.Net;
using System.Net.Sockets;

namespace Supermachine.Guest;

/// <summary>
/// Host ports, opt-in: a guest connection to host.supermachine.internal:P reaches host
/// 127.0.0.1:P for the ports given here and no other. The guest never names a host port: for each
/// allowed port the host keeps one HOST_ACCEPT stream waiting at the agent (which listens on the
/// guest address of host.supermachine.internal), and when a guest client connects, the host
/// connects that stream to 127.0.0.1:P. It runs over the agent channel, not the NAT, so it needs
/// no NIC, and the NAT keeps the host's loopback hidden from everything else.
/// </summary>
internal sealed class HostPortRelay : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly ConnectionTasks _connections = new();

    private HostPortRelay(AgentConnection agent, IReadOnlyList<int> ports)
    {
        Ports = ports;
        foreach (int port in ports)
        {
            _loops.Add(Task.Run(() => AcceptLoopAsync(agent, port)));
        }
    }

    /// <summary>The host ports the guest may reach.</summary>
    public IReadOnlyList<int> Ports { get; }

    public static HostPortRelay Start(AgentConnection agent, IEnumerable<int> ports)
    {
        int[] allowed = [.. ports.Distinct()];
        foreach (int port in allowed)
        {
            ArgumentOutOfRangeException.ThrowIfNotEqual(port is > 0 and <= 65535, true, nameof(ports));
        }
        return new HostPortRelay(agent, allowed);
    }

    private async Task AcceptLoopAsync(AgentConnection agent, int port)
    {
        while (!_stop.IsCancellationRequested)
        {
            AgentDuplexStream guest;
            try
            {
                guest = await agent.AcceptHostConnectionAsync(port, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                // The guest could not listen there, or the VM is gone: retry calmly until disposed.
                await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                continue;
            }
            _connections.Add(ConnectAsync(guest, port));
        }
    }

    private async Task ConnectAsync(AgentDuplexStream guest, int port)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using (client)
        {
            try
            {
                await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), _stop.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Nothing listens on the host port: the guest client sees its connection reset.
                await guest.AbortAsync().ConfigureAwait(false);
                await guest.DisposeAsync().ConfigureAwait(false);
                return;
            }
            await AgentPortForwarder.RelayAsync(client, guest, _stop.Token).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        await _connections.WaitAllAsync(_loops).ConfigureAwait(false);
        _stop.Dispose();
    }
}
