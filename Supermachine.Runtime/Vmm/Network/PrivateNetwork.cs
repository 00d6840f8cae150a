using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Supermachine.Diagnostics;

namespace Supermachine.Vmm.Network;

/// <summary>A live member of a private network: its address and aliases.</summary>
internal sealed record PrivateNetworkPeer(IPAddress Address, IReadOnlyList<string> Aliases);

/// <summary>
/// A private network as this process takes part in it. The network lives in a directory of the
/// user's run directory named after it, shared by every process on the host: members/ holds one
/// lock file per address (held by the member's process) with its aliases beside it, switch.sock is
/// the <see cref="FrameSwitch"/>, and switch.lock says which process runs it. Every process with a
/// member polls: it takes over the switch when its holder is gone (the kernel drops a dead
/// process's locks), so a member that leaves or dies, even the one whose process ran the switch,
/// does not cut the others off for more than a poll. It needs no root: unix sockets in a 0700
/// directory, QEMU's dgram netdev on each end.
/// </summary>
internal sealed partial class PrivateNetwork
{
    /// <summary>Every private network uses this /24 (they are separate wires); .1 stays free.</summary>
    public const string Subnet = "10.89.0";

    public const int PrefixLength = 24;

    /// <summary>The second NIC's MAC as baked; each member's agent replaces it with one from its address.</summary>
    public const string BakedMac = "02:53:4d:01:00:00";

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    private static readonly Dictionary<string, PrivateNetwork> Joined = new(StringComparer.Ordinal);

    private readonly string _directory;
    private readonly object _gate = new();
    private int _references;
    private Timer? _timer;
    private int _polling;
    private LockFile? _switchLock;
    private FrameSwitch? _switch;
    private string _membersSeen = "";

    private PrivateNetwork(string name, string directory)
    {
        Name = name;
        _directory = directory;
    }

    public string Name { get; }

    /// <summary>The switch's socket, where every member's NIC sends.</summary>
    public string SwitchSocket => Path.Combine(_directory, "switch.sock");

    private string MembersDirectory => Path.Combine(_directory, "members");

    /// <summary>Raised (on a timer thread) when a member joined or left, in any process.</summary>
    public event Action? MembersChanged;

    /// <summary>Whether <paramref name="name"/> can name a network: a letter or digit, then letters, digits, '.', '_', '-' (at most 64).</summary>
    public static bool IsValidName(string name) => NameRule().IsMatch(name);

    /// <summary>Whether <paramref name="alias"/> works as a hostname in the guests: one or more RFC 1123 labels, at most 63 characters.</summary>
    public static bool IsValidAlias(string alias) => alias.Length <= 63 && AliasRule().IsMatch(alias);

    /// <summary>Takes part in network <paramref name="name"/> until a matching <see cref="Leave"/>; runs its switch if nobody does.</summary>
    public static PrivateNetwork Join(string name)
    {
        if (OperatingSystem.IsWindows())
        {
            throw Errors.PasstMissing("passt (there is none for Windows)");
        }
        lock (Joined)
        {
            if (!Joined.TryGetValue(name, out PrivateNetwork? network))
            {
                string directory = Path.Combine(RunDirectory(), "networks", Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)))[..16]);
                Directory.CreateDirectory(Path.Combine(directory, "members"), Private);
                File.WriteAllText(Path.Combine(directory, "name"), name + "\n");
                network = new PrivateNetwork(name, directory);
                Joined[name] = network;
            }
            if (network._references++ == 0)
            {
                network.Poll(null);
                network._timer = new Timer(network.Poll, null, PollInterval, PollInterval);
            }
            return network;
        }
    }

    /// <summary>Ends one <see cref="Join"/>; the last one here stops this process's share (its switch moves to another process).</summary>
    public void Leave()
    {
        lock (Joined)
        {
            if (--_references > 0)
            {
                return;
            }
            Joined.Remove(Name);
            _timer?.Dispose();
            _timer = null;
            lock (_gate)
            {
                _switch?.Dispose();
                _switch = null;
                _switchLock?.Dispose();
                _switchLock = null;
            }
        }
    }

    /// <summary>
    /// A free address for a new member with <paramref name="aliases"/>, held until the lease is
    /// disposed or the process dies. SM2360 when an alias is taken, SM3064 when the /24 is full.
    /// </summary>
    public async Task<PrivateNetworkLease> LeaseAsync(IReadOnlyList<string> aliases, CancellationToken cancellationToken)
    {
        foreach (string alias in aliases)
        {
            if (!IsValidAlias(alias))
            {
                throw Errors.InvalidNetworkName("The alias", alias, "use a hostname: letters, digits, '-' and '.', at most 63");
            }
        }
        using LockFile joining = await LockFile.AcquireAsync(Path.Combine(_directory, "join.lock"), TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        IReadOnlyList<PrivateNetworkPeer> members = Members();
        foreach (string alias in aliases)
        {
            if (members.FirstOrDefault(m => m.Aliases.Contains(alias, StringComparer.OrdinalIgnoreCase)) is { } holder)
            {
                throw Errors.NetworkAliasTaken(alias, Name, holder.Address);
            }
        }
        for (int host = 2; host < 255; host++)
        {
            string address = $"{Subnet}.{host}";
            if (LockFile.TryAcquire(Path.Combine(MembersDirectory, address + ".lock")) is LockFile held)
            {
                File.WriteAllText(Path.Combine(MembersDirectory, address + ".aliases"), string.Join(' ', aliases));
                Poll(null);
                return new PrivateNetworkLease(this, IPAddress.Parse(address), aliases, held);
            }
        }
        throw Errors.NetworkFull(Name);
    }

    /// <summary>The live members, in every process, by address.</summary>
    public IReadOnlyList<PrivateNetworkPeer> Members()
    {
        var members = new List<PrivateNetworkPeer>();
        foreach (string lockPath in Directory.EnumerateFiles(MembersDirectory, "*.lock"))
        {
            string address = Path.GetFileNameWithoutExtension(lockPath);
            if (!IPAddress.TryParse(address, out IPAddress? ip) || !LockFile.IsHeld(lockPath))
            {
                continue;
            }
            string aliases;
            try
            {
                aliases = File.ReadAllText(Path.Combine(MembersDirectory, address + ".aliases"));
            }
            catch (IOException)
            {
                aliases = ""; // being written: the next poll sees it
            }
            members.Add(new PrivateNetworkPeer(ip, aliases.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        }
        return [.. members.OrderBy(m => m.Address.GetAddressBytes()[3])];
    }

    internal void Release(PrivateNetworkLease lease, LockFile held)
    {
        File.Delete(Path.Combine(MembersDirectory, lease.Address + ".aliases"));
        held.Dispose();
        Poll(null);
    }

    /// <summary>Takes over the switch when nobody runs it and tells members about joins and leaves.</summary>
    private void Poll(object? state)
    {
        if (Interlocked.Exchange(ref _polling, 1) == 1)
        {
            return;
        }
        try
        {
            lock (_gate)
            {
                if (_switch is null && _references > 0 && LockFile.TryAcquire(Path.Combine(_directory, "switch.lock")) is LockFile won)
                {
                    _switchLock = won;
                    _switch = FrameSwitch.Start(SwitchSocket);
                }
            }
            string seen = string.Join(';', Members().Select(m => m.Address + "=" + string.Join(',', m.Aliases)));
            if (seen != _membersSeen)
            {
                _membersSeen = seen;
                MembersChanged?.Invoke();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            // The next poll tries again; the members keep their last state meanwhile.
        }
        finally
        {
            Volatile.Write(ref _polling, 0);
        }
    }

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>
    /// $XDG_RUNTIME_DIR/supermachine, else /tmp/supermachine-UID: per user, 0700, short enough
    /// for unix socket paths, and the same for every process of the user whatever its cache.
    /// </summary>
    private static string RunDirectory()
    {
        if (OperatingSystem.IsWindows())
        {
            throw Errors.PasstMissing("passt (there is none for Windows)");
        }
        string? xdg = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        string path = !string.IsNullOrEmpty(xdg) && Directory.Exists(xdg)
            ? Path.Combine(xdg, "supermachine")
            : Path.Combine("/tmp", "supermachine-" + GetEffectiveUserId().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(path, Private);
        if (File.GetUnixFileMode(path) != Private)
        {
            throw Errors.NetworkDirectoryUnsafe(path);
        }
        return path;
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex NameRule();

    [GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")]
    private static partial Regex AliasRule();
}

/// <summary>One member's address and aliases on a private network, held until disposed (or its process dies).</summary>
internal sealed class PrivateNetworkLease : IDisposable
{
    private readonly PrivateNetwork _network;
    private LockFile? _held;

    internal PrivateNetworkLease(PrivateNetwork network, IPAddress address, IReadOnlyList<string> aliases, LockFile held)
    {
        _network = network;
        Address = address;
        Aliases = aliases;
        _held = held;
    }

    public IPAddress Address { get; }

    public IReadOnlyList<string> Aliases { get; }

    /// <summary>What the agent sets on the second NIC: "ADDRESS/PREFIX".</summary>
    public string Identity => $"{Address}/{PrivateNetwork.PrefixLength}";

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _held, null) is LockFile held)
        {
            _network.Release(this, held);
        }
    }
}
