using System.Globalization;
using System.Text;
using Supermachine.Diagnostics;

namespace Supermachine.Guest.Staging;

/// <summary>A host file to put into the guest before the workload starts (an init script, a config).</summary>
/// <param name="HostPath">Absolute path of the content on the host.</param>
/// <param name="GuestPath">Absolute path in the guest; parents are created.</param>
/// <param name="Mode">Permission bits; null is 0644.</param>
/// <param name="Owner">"uid[:gid]" or "user[:group]" of the image; null is root.</param>
internal sealed record GuestFile(string HostPath, string GuestPath, int? Mode = null, string? Owner = null);

/// <summary>Writes <see cref="GuestFile"/>s through the agent, resolving owner names from the image's own /etc/passwd and /etc/group.</summary>
internal static class GuestFiles
{
    public const int DefaultMode = 0x1A4; // 0644

    public static async Task WriteAsync(AgentConnection agent, IReadOnlyList<GuestFile> files, CancellationToken cancellationToken)
    {
        foreach (GuestFile file in files)
        {
            (int? uid, int? gid) = file.Owner is { Length: > 0 } owner ? await ResolveOwnerAsync(agent, file.GuestPath, owner, cancellationToken).ConfigureAwait(false) : (null, null);
            await using FileStream content = File.OpenRead(file.HostPath);
            await agent.WriteFileAsync(file.GuestPath, content, file.Mode ?? DefaultMode, uid, gid, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<(int? Uid, int? Gid)> ResolveOwnerAsync(AgentConnection agent, string guestPath, string owner, CancellationToken cancellationToken)
    {
        int colon = owner.IndexOf(':');
        string user = colon < 0 ? owner : owner[..colon];
        string? group = colon < 0 ? null : owner[(colon + 1)..];
        (int Id, int Gid)? found = await LookUpAsync(agent, "/etc/passwd", user, guestPath, owner, cancellationToken).ConfigureAwait(false);
        int uid = found?.Id ?? throw Errors.FileOwnerUnknown(guestPath, owner, $"no user '{user}' in /etc/passwd");
        if (group is null)
        {
            // As chown USER does for a name: the user's primary group; a bare uid keeps the group as is.
            return (uid, int.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? null : found.Value.Gid);
        }
        (int Id, int Gid)? groupEntry = await LookUpAsync(agent, "/etc/group", group, guestPath, owner, cancellationToken).ConfigureAwait(false);
        return (uid, groupEntry?.Id ?? throw Errors.FileOwnerUnknown(guestPath, owner, $"no group '{group}' in /etc/group"));
    }

    /// <summary>A numeric id as is, else the entry named so (its id, and for passwd its primary gid).</summary>
    private static async Task<(int Id, int Gid)?> LookUpAsync(AgentConnection agent, string database, string name, string guestPath, string owner, CancellationToken cancellationToken)
    {
        if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int numeric))
        {
            return (numeric, -1);
        }
        string text;
        try
        {
            text = Encoding.UTF8.GetString(await agent.ReadFileAsync(database, 16L * 1024 * 1024, cancellationToken).ConfigureAwait(false));
        }
        catch (SupermachineException e) when (e.Code == Errors.Codes.GuestOperationFailed)
        {
            throw Errors.FileOwnerUnknown(guestPath, owner, $"the image has no readable {database}", cause: e);
        }
        foreach (string line in text.Split('\n'))
        {
            string[] fields = line.Split(':');
            if (fields.Length > 2 && fields[0] == name && int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            {
                int gid = fields.Length > 3 && int.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out int g) ? g : -1;
                return (id, gid);
            }
        }
        return null;
    }
}
