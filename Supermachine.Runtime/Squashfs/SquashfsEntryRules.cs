using System.Text;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Squashfs;

/// <summary>
/// What an entry must be for squashfs to store it: a clean relative path with names of at most
/// 256 bytes (SM2101, SM2102), and times, modes, owners, device numbers, link targets and
/// extended attribute names that fit the format's fields (SM2103).
/// </summary>
internal static class SquashfsEntryRules
{
    public static string[] SplitPath(string path)
    {
        if (path is null)
        {
            throw Diagnostic.Error("SM2101", "(null)", "the path is missing");
        }
        if (path.Length == 0)
        {
            return [];
        }
        if (path.Contains('\0'))
        {
            throw Diagnostic.Error("SM2101", path.Replace("\0", "\\0"), "it contains a NUL character");
        }
        string[] parts = path.Split('/');
        foreach (string part in parts)
        {
            if (part.Length == 0 || part is "." or "..")
            {
                throw Diagnostic.Error("SM2101", path, part.Length == 0 ? "it has an empty component (leading, trailing or double '/')" : $"it has a '{part}' component");
            }
            int bytes = Encoding.UTF8.GetByteCount(part);
            if (bytes > SquashfsFormat.MaxNameLength)
            {
                throw Diagnostic.Error("SM2102", part, bytes);
            }
        }
        return parts;
    }

    public static void CheckRepresentable(FileSystemEntry e)
    {
        string path = e.Path.Length == 0 ? "/" : e.Path;
        if (e.ModificationTime is < 0 or > uint.MaxValue)
        {
            throw Diagnostic.Error("SM2103", path, $"its mtime {e.ModificationTime} is outside 1970..2106 (squashfs stores 32-bit unsigned seconds)");
        }
        if (e.Mode is < 0 or > 0xFFF)
        {
            throw Diagnostic.Error("SM2103", path, $"its mode {Convert.ToString(e.Mode, 8)} has bits beyond 07777");
        }
        if (e.Uid < 0 || e.Gid < 0)
        {
            throw Diagnostic.Error("SM2103", path, $"its owner {e.Uid}:{e.Gid} is negative");
        }
        switch (e.Type)
        {
            case FileSystemEntryType.CharacterDevice or FileSystemEntryType.BlockDevice:
                if (e.DeviceMajor is < 0 or > 0xFFF || e.DeviceMinor is < 0 or > 0xFFFFF)
                {
                    throw Diagnostic.Error("SM2103", path, $"device {e.DeviceMajor}:{e.DeviceMinor} needs more than 12 bits of major or 20 of minor");
                }
                break;
            case FileSystemEntryType.Symlink:
                if (string.IsNullOrEmpty(e.LinkTarget))
                {
                    throw Diagnostic.Error("SM2103", path, "it is a symlink without a target");
                }
                break;
            case FileSystemEntryType.HardLink:
                if (string.IsNullOrEmpty(e.LinkTarget))
                {
                    throw Diagnostic.Error("SM2103", path, "it is a hard link without a target");
                }
                break;
            case FileSystemEntryType.RegularFile:
                if (e.Size < 0)
                {
                    throw Diagnostic.Error("SM2103", path, $"its size {e.Size} is negative");
                }
                break;
        }
        foreach (string name in e.ExtendedAttributes.Keys)
        {
            int type = XattrType(name);
            if (type < 0)
            {
                throw Diagnostic.Error("SM2103", path, $"its extended attribute '{name}' is not in a namespace squashfs stores (user., trusted., security.)");
            }
            if (Encoding.UTF8.GetByteCount(name) - SquashfsFormat.XattrPrefixes[type].Length > ushort.MaxValue)
            {
                throw Diagnostic.Error("SM2103", path, $"its extended attribute name '{name}' is too long");
            }
        }
    }

    public static int XattrType(string name)
    {
        for (int i = 0; i < SquashfsFormat.XattrPrefixes.Length; i++)
        {
            if (name.StartsWith(SquashfsFormat.XattrPrefixes[i], StringComparison.Ordinal) && name.Length > SquashfsFormat.XattrPrefixes[i].Length)
            {
                return i;
            }
        }
        return -1;
    }

    public static string Describe(FileSystemEntryType type) => type switch
    {
        FileSystemEntryType.RegularFile => "regular file",
        FileSystemEntryType.HardLink => "hard link",
        FileSystemEntryType.CharacterDevice => "character device",
        FileSystemEntryType.BlockDevice => "block device",
        _ => type.ToString().ToLowerInvariant(),
    };
}
