using Supermachine.Diagnostics;
using Supermachine.Vmm.Network;

namespace Supermachine;

/// <summary>
/// The network a VM joins (<see cref="MicroVmOptions.Network"/>). Every VM with a network has a
/// NIC behind a user-mode NAT for outbound connections; a named network adds a private wire
/// between every VM that names it, in any process of this user on this host, where members reach
/// each other by alias (<see cref="MicroVmOptions.Aliases"/>) on any port. <see cref="None"/> gives
/// no NIC at all. A string converts: "none", or a network's name.
/// </summary>
/// <remarks>
/// Nothing to dispose: the network exists while a member runs. The switch that carries it runs in
/// one member's process and moves to another when that process goes, so a member that leaves or
/// dies does not cut the others off.
/// </remarks>
public sealed class MicroVmNetwork
{
    private const string NoneName = "none";

    private MicroVmNetwork(string name) => Name = name;

    /// <summary>No NIC: the guest has only lo.</summary>
    public static MicroVmNetwork None { get; } = new(NoneName);

    /// <summary>"none", or the private network's name.</summary>
    public string Name { get; }

    /// <summary>Whether this is <see cref="None"/>.</summary>
    public bool IsNone => ReferenceEquals(this, None);

    /// <summary>The private network <paramref name="name"/> (a letter or digit, then letters, digits, '.', '_', '-'; at most 64). SM2361 otherwise.</summary>
    public static MicroVmNetwork Named(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (string.Equals(name, NoneName, StringComparison.OrdinalIgnoreCase))
        {
            return None;
        }
        return PrivateNetwork.IsValidName(name)
            ? new MicroVmNetwork(name)
            : throw Errors.InvalidNetworkName("The network name", name, "use a letter or digit, then letters, digits, '.', '_' or '-' (at most 64), or \"none\"");
    }

    /// <summary>A private network of its own, named at random: for tests that must not meet other runs.</summary>
    public static MicroVmNetwork CreateUnique() => new("sm-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6)));

    /// <summary>"none" or a network name; null and blank stay null (the image's own network).</summary>
    public static implicit operator MicroVmNetwork?(string? name) => string.IsNullOrWhiteSpace(name) ? null : Named(name.Trim());

    /// <summary>The aliases without duplicates (the network checks each one when the VM joins).</summary>
    internal static IReadOnlyList<string> CheckAliases(IEnumerable<string> aliases) =>
        [.. aliases.Distinct(StringComparer.OrdinalIgnoreCase)];

    public override string ToString() => Name;
}
