using System.Text.RegularExpressions;
using Supermachine.Diagnostics;

namespace Supermachine.Guest.Storage;

/// <summary>What a -v value names.</summary>
internal enum StorageKind
{
    /// <summary>A named volume: an ext4 disk file that outlives the VM.</summary>
    Volume,

    /// <summary>A host directory, shared into the guest, never part of a snapshot.</summary>
    HostDirectory,
}

/// <summary>
/// One -v value, as Docker writes it: <c>NAME:/guest/path[:ro]</c> for a named volume,
/// <c>/abs/host/dir:/guest/path[:ro]</c> for a host directory. The same text is taken from the
/// command line, the Volumes and Mounts item metadata and <c>MicroVmOptions</c>.
/// </summary>
internal sealed partial record StorageSpec(StorageKind Kind, string Source, string GuestPath, bool ReadOnly)
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex VolumeName();

    /// <summary>Parses <paramref name="spec"/>; <paramref name="owner"/> names where it came from in errors (SM2370, SM2371).</summary>
    public static StorageSpec Parse(string owner, string spec)
    {
        string[] parts = spec.Trim().Split(':');
        bool readOnly = false;
        if (parts.Length == 3 && parts[2] is "ro" or "rw")
        {
            readOnly = parts[2] == "ro";
        }
        else if (parts.Length != 2)
        {
            throw Errors.StorageSpecInvalid(owner, spec);
        }
        string source = parts[0];
        string guest = parts[1];
        StorageKind kind;
        if (source.StartsWith('/'))
        {
            kind = StorageKind.HostDirectory;
            source = Path.GetFullPath(source);
        }
        else if (VolumeName().IsMatch(source))
        {
            kind = StorageKind.Volume;
        }
        else
        {
            throw Errors.StorageSpecInvalid(owner, spec);
        }
        if (!guest.StartsWith('/'))
        {
            throw Errors.GuestPathNotAbsolute(owner, spec, guest);
        }
        // Mounted over the guest's root, a volume would hide the image itself.
        string normalized = "/" + string.Join('/', guest.Split('/', StringSplitOptions.RemoveEmptyEntries));
        if (normalized == "/" || normalized.Split('/').Contains(".."))
        {
            throw Errors.StorageSpecInvalid(owner, spec);
        }
        return new StorageSpec(kind, source, normalized, readOnly);
    }

    /// <summary>Parses a ';'-separated list (item metadata), refusing the other kind and two specs on one guest path.</summary>
    public static IReadOnlyList<StorageSpec> ParseList(string owner, IEnumerable<string> specs, StorageKind? only, string where)
    {
        var result = new List<StorageSpec>();
        foreach (string text in specs.SelectMany(s => s.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            StorageSpec spec = Parse(owner, text);
            if (only is StorageKind kind && spec.Kind != kind)
            {
                throw Errors.StorageSpecWrongKind(owner, text, where, kind == StorageKind.Volume ? "named volumes (NAME:/GUEST_PATH)" : "host directories (/HOST_DIR:/GUEST_PATH[:ro])");
            }
            result.Add(spec);
        }
        CheckTargets(owner, result);
        return result;
    }

    /// <summary>SM2377 when two specs mount at one guest path.</summary>
    public static void CheckTargets(string owner, IEnumerable<StorageSpec> specs)
    {
        if (specs.GroupBy(s => s.GuestPath, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw Errors.StorageTargetTwice(owner, twice.Key);
        }
    }

    public override string ToString() => $"{Source}:{GuestPath}{(ReadOnly ? ":ro" : "")}";
}
