using System.Net;
using System.Net.Sockets;

namespace Supermachine.Guest;

/// <summary>
/// A host listener on 127.0.0.1 (an ephemeral port unless given) whose every connection is
/// forwarded over the agent to guest 127.0.0.1:<see cref="GuestPort"/>. Only loopback: the guest
/// is never exposed beyond this host. Disposing stops listening and drops open connections.
/// </summary>
internal sealed class AgentPortForwarder : IAsyncDisposable
{
    private readonly AgentConnection _agent;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly ConnectionTasks _connections = new();

    private AgentPortForwarder(AgentConnection agent, int guestPort, int hostPort)
    {
        _agent = agent;
        GuestPort = guestPort;
        _listener = new TcpListener(IPAddress.Loopback, hostPort);
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int GuestPort { get; }

    /// <summary>Where host clients connect: 127.0.0.1 and the listening port.</summary>
    public IPEndPoint EndPoint { get; }

    public static AgentPortForwarder Start(AgentConnection agent, int guestPort, int hostPort = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(guestPort is > 0 and <= 65535, true, nameof(guestPort));
        return new AgentPortForwarder(agent, guestPort, hostPort);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _connections.Add(ForwardAsync(client));
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        client.NoDelay = true;
        using (client)
        {
            AgentDuplexStream guest;
            try
            {
                guest = await _agent.OpenPortForwardAsync(GuestPort, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Nothing listens in the guest (or the VM is gone): the client sees its connection closed.
                return;
            }
            await RelayAsync(client, guest, _stop.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Moves bytes both ways between <paramref name="client"/> and <paramref name="guest"/> until both ends close; disposes the stream.</summary>
    internal static async Task RelayAsync(Socket client, AgentDuplexStream guest, CancellationToken cancellationToken)
    {
        await using (guest.ConfigureAwait(false))
        {
            var host = new NetworkStream(client, ownsSocket: false);
            Task up = Task.Run(async () =>
            {
                await host.CopyToAsync(guest, cancellationToken).ConfigureAwait(false);
                await guest.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
            });
            Task down = Task.Run(async () =>
            {
                await guest.CopyToAsync(host, cancellationToken).ConfigureAwait(false);
                client.Shutdown(SocketShutdown.Send);
            });
            Task first = await Task.WhenAny(up, down).ConfigureAwait(false);
            if (!first.IsCompletedSuccessfully)
            {
                // A reset on either side ends the pair: unblock the other direction.
                await guest.AbortAsync().ConfigureAwait(false);
                client.Close();
            }
            try
            {
                await Task.WhenAll(up, down).ConfigureAwait(false);
            }
            catch (Exception)
            {
                await guest.AbortAsync().ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        _listener.Stop();
        await _connections.WaitAllAsync([_acceptLoop]).ConfigureAwait(false);
        _stop.Dispose();
    }
}
