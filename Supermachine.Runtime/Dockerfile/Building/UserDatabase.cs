using System.Globalization;
using Supermachine.Diagnostics;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// Resolves <c>user[:group]</c> the way the Docker builder does, in the stage's own
/// <c>/etc/passwd</c> and <c>/etc/group</c>: names are looked up, numbers are taken as they are.
/// </summary>
internal static class UserDatabase
{
    /// <summary>
    /// The owner COPY/ADD <c>--chown</c> sets. A user without a group takes the user's number as the
    /// group too (Docker's documented rule for --chown), whether it came as a name or a number.
    /// </summary>
    public static (int Uid, int Gid) ResolveChown(string spec, FilesystemView view, string dockerfile, int line)
    {
        (string user, string? group) = SplitSpec(spec);
        int uid = LookupUser(user, view, dockerfile, line).Uid;
        return (uid, group is null ? uid : LookupGroup(group, view, dockerfile, line));
    }

    /// <summary>The owner of what a USER creates (WORKDIR): the user's primary group from passwd when no group is given.</summary>
    public static (int Uid, int Gid) ResolveUser(string spec, FilesystemView view, string dockerfile, int line)
    {
        if (spec.Length == 0)
        {
            return (0, 0);
        }
        (string user, string? group) = SplitSpec(spec);
        (int uid, int primary) = LookupUser(user, view, dockerfile, line);
        return (uid, group is null ? primary : LookupGroup(group, view, dockerfile, line));
    }

    private static (string User, string? Group) SplitSpec(string spec)
    {
        int colon = spec.IndexOf(':');
        return colon < 0 ? (spec, null) : (spec[..colon], spec[(colon + 1)..]);
    }

    private static (int Uid, int Gid) LookupUser(string user, FilesystemView view, string dockerfile, int line)
    {
        foreach (string[] fields in Records(view, "etc/passwd"))
        {
            if (fields.Length >= 4 && (fields[0] == user || (IsNumber(user) && fields[2] == user))
                && int.TryParse(fields[2], CultureInfo.InvariantCulture, out int uid) && int.TryParse(fields[3], CultureInfo.InvariantCulture, out int gid))
            {
                return (uid, gid);
            }
        }
        // A number that passwd lacks is still a valid owner (group 0, as runc does).
        return IsNumber(user) ? (int.Parse(user, CultureInfo.InvariantCulture), 0) : throw Errors.UnknownUserOrGroup(dockerfile, line, "user", user, "/etc/passwd");
    }

    private static int LookupGroup(string group, FilesystemView view, string dockerfile, int line)
    {
        if (IsNumber(group))
        {
            return int.Parse(group, CultureInfo.InvariantCulture);
        }
        foreach (string[] fields in Records(view, "etc/group"))
        {
            if (fields.Length >= 3 && fields[0] == group && int.TryParse(fields[2], CultureInfo.InvariantCulture, out int gid))
            {
                return gid;
            }
        }
        throw Errors.UnknownUserOrGroup(dockerfile, line, "group", group, "/etc/group");
    }

    private static IEnumerable<string[]> Records(FilesystemView view, string path) =>
        (view.ReadText(path) ?? "").Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.Split(':'));

    private static bool IsNumber(string text) => text.Length is > 0 and < 10 && text.All(char.IsAsciiDigit);
}
