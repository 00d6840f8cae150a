using Supermachine.Vmm.Network;

namespace Supermachine.Guest;

/// <summary>
/// One VM's place on a private network: its lease (address and aliases) and the agent that keeps
/// the guest's side current. The guest learns its identity and its peers' aliases from the host
/// after every start or restore (a snapshot is baked without knowing either), and again whenever a
/// member joins or leaves, in any process.
/// </summary>
internal sealed class NetworkAttachment : IAsyncDisposable
{
    private readonly PrivateNetwork _network;
    private readonly PrivateNetworkLease _lease;
    private readonly SemaphoreSlim _updating = new(1, 1);
    private AgentConnection? _agent;
    private int _disposed;

    private NetworkAttachment(PrivateNetwork network, PrivateNetworkLease lease)
    {
        _network = network;
        _lease = lease;
    }

    public string NetworkName => _network.Name;

    /// <summary>Where the VM's second NIC sends its frames.</summary>
    public string SwitchSocket => _network.SwitchSocket;

    public System.Net.IPAddress Address => _lease.Address;

    /// <summary>Joins network <paramref name="name"/> with <paramref name="aliases"/> (SM2360 if one is taken).</summary>
    public static async Task<NetworkAttachment> JoinAsync(string name, IReadOnlyList<string> aliases, CancellationToken cancellationToken)
    {
        PrivateNetwork network = PrivateNetwork.Join(name);
        try
        {
            return new NetworkAttachment(network, await network.LeaseAsync(aliases, cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            network.Leave();
            throw;
        }
    }

    /// <summary>Gives the guest its identity and peers now, and keeps its peers current from here on.</summary>
    public async Task AttachAsync(AgentConnection agent, CancellationToken cancellationToken)
    {
        _agent = agent;
        await UpdateAsync(cancellationToken).ConfigureAwait(false);
        _network.MembersChanged += OnMembersChanged;
    }

    /// <summary>Takes the guest off the network (second NIC down, no members in /etc/hosts) and stops updating it.</summary>
    public async Task DetachAsync(CancellationToken cancellationToken)
    {
        _network.MembersChanged -= OnMembersChanged;
        AgentConnection? agent = Interlocked.Exchange(ref _agent, null);
        if (agent is null)
        {
            return;
        }
        await _updating.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await agent.ConfigureNetworkAsync("", [], cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _updating.Release();
        }
    }

    private void OnMembersChanged() => _ = UpdateQuietlyAsync();

    private async Task UpdateQuietlyAsync()
    {
        try
        {
            await UpdateAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception) when (Volatile.Read(ref _disposed) == 0)
        {
            // The guest is stopping or busy: the next change, or its next start, brings it up to date.
        }
        catch (Exception)
        {
        }
    }

    private async Task UpdateAsync(CancellationToken cancellationToken)
    {
        if (_agent is null || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }
        await _updating.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            string[] hosts = [.. _network.Members().Where(m => m.Aliases.Count > 0).Select(m => $"{m.Address} {string.Join(' ', m.Aliases)}")];
            await _agent.ConfigureNetworkAsync(_lease.Identity, hosts, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _updating.Release();
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _network.MembersChanged -= OnMembersChanged;
            _lease.Dispose();
            _network.Leave();
        }
        return ValueTask.CompletedTask;
    }
}
