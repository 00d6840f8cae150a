using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Supermachine.FileSystem;

namespace Supermachine.Tests.Squashfs;

/// <summary>
/// A tree described entry by entry (path, type, mode, owner, size, content hash, link target,
/// mtime, device numbers, hard-link group, xattrs) from <c>find</c> and <c>stat</c>, so two trees
/// (a source and what unsquashfs or the kernel shows of our image) can be compared line by line.
/// </summary>
internal static class TreeSnapshot
{
    public static SortedDictionary<string, string> Of(string root)
    {
        string listing = ExternalTool.Check("find", root, "-mindepth", "1", "-printf", "%P\\t%y\\t%m\\t%U\\t%G\\t%s\\t%T@\\t%l\\t%n\\t%i\\0");
        var rows = new List<string[]>();
        foreach (string line in listing.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            rows.Add(line.Split('\t'));
        }
        // Hard-link groups by inode, named by their first path, so they compare across trees.
        var groups = rows.Where(r => r[1] != "d" && int.Parse(r[8], CultureInfo.InvariantCulture) > 1)
            .GroupBy(r => r[9])
            .ToDictionary(g => g.Key, g => g.Select(r => r[0]).Min(StringComparer.Ordinal)!);
        var devices = new Dictionary<string, string>();
        string[] deviceRows = rows.Where(r => r[1] is "b" or "c").Select(r => Path.Combine(root, r[0])).ToArray();
        if (deviceRows.Length > 0)
        {
            string stat = ExternalTool.Check("stat", ["--printf=%n\\t%t:%T\\n", .. deviceRows]);
            foreach (string line in stat.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] parts = line.Split('\t');
                devices[Path.GetRelativePath(root, parts[0])] = parts[1];
            }
        }
        var xattrs = DirectoryTreeReader.Read(root).ToDictionary(e => e.Path, e => e.ExtendedAttributes);

        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string[] r in rows)
        {
            string path = r[0];
            string type = r[1];
            string size = type == "d" ? "-" : r[5];
            string mtime = r[6].Split('.')[0];
            string hash = type == "f" ? Hash(Path.Combine(root, path)) : "-";
            string group = groups.TryGetValue(r[9], out string? first) ? first : "-";
            string device = devices.GetValueOrDefault(path, "-");
            string attributes = string.Join(",", xattrs[path].OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + Convert.ToHexString(p.Value)));
            result[path] = string.Join(" | ", type, r[2], r[3] + ":" + r[4], size, mtime, r[7], device, group, hash, attributes);
        }
        return result;
    }

    /// <summary>The same record for an image's entries as <see cref="Supermachine.Squashfs.SquashfsReader"/> yields them.</summary>
    public static SortedDictionary<string, string> Of(IEnumerable<FileSystemEntry> entries)
    {
        var list = entries.Where(e => e.Path.Length > 0).ToList();
        var byPath = list.ToDictionary(e => e.Path);
        var groups = new Dictionary<string, List<string>>();
        foreach (FileSystemEntry e in list.Where(e => e.Type == FileSystemEntryType.HardLink))
        {
            string target = e.LinkTarget!;
            groups.TryAdd(target, [target]);
            groups[target].Add(e.Path);
        }
        var leader = new Dictionary<string, string>();
        foreach (var (_, members) in groups)
        {
            string first = members.Min(StringComparer.Ordinal)!;
            foreach (string member in members)
            {
                leader[member] = first;
            }
        }
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (FileSystemEntry e in list)
        {
            FileSystemEntry inode = e.Type == FileSystemEntryType.HardLink ? byPath[e.LinkTarget!] : e;
            string type = inode.Type switch
            {
                FileSystemEntryType.Directory => "d",
                FileSystemEntryType.RegularFile => "f",
                FileSystemEntryType.Symlink => "l",
                FileSystemEntryType.CharacterDevice => "c",
                FileSystemEntryType.BlockDevice => "b",
                FileSystemEntryType.Fifo => "p",
                FileSystemEntryType.Socket => "s",
                _ => "?",
            };
            string size = type switch { "d" => "-", "f" => inode.Size.ToString(CultureInfo.InvariantCulture), "l" => Encoding.UTF8.GetByteCount(inode.LinkTarget!).ToString(CultureInfo.InvariantCulture), _ => "0" };
            string hash = type == "f" ? Hash(inode.OpenContent!) : "-";
            string device = type is "b" or "c" ? $"{inode.DeviceMajor:x}:{inode.DeviceMinor:x}" : "-";
            string attributes = string.Join(",", inode.ExtendedAttributes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + Convert.ToHexString(p.Value)));
            result[e.Path] = string.Join(" | ", type, Convert.ToString(inode.Mode, 8), inode.Uid + ":" + inode.Gid, size, inode.ModificationTime.ToString(CultureInfo.InvariantCulture),
                type == "l" ? inode.LinkTarget : "", device, leader.GetValueOrDefault(e.Path, "-"), hash, attributes);
        }
        return result;
    }

    public static string Hash(string file)
    {
        using FileStream stream = File.OpenRead(file);
        return Convert.ToHexString(SHA256.HashData(stream))[..16];
    }

    public static string Hash(Func<Stream> open)
    {
        using Stream stream = open();
        return Convert.ToHexString(SHA256.HashData(stream))[..16];
    }

    /// <summary>Asserts two snapshots are equal, showing the first differences.</summary>
    public static void AssertSame(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual, string what)
    {
        var differences = new List<string>();
        foreach (var (path, line) in expected)
        {
            if (!actual.TryGetValue(path, out string? other))
            {
                differences.Add($"missing in {what}: {path} ({line})");
            }
            else if (other != line)
            {
                differences.Add($"differs in {what}: {path}\n  expected {line}\n  actual   {other}");
            }
        }
        differences.AddRange(actual.Keys.Where(p => !expected.ContainsKey(p)).Select(p => $"extra in {what}: {p} ({actual[p]})"));
        Assert.True(differences.Count == 0, $"{differences.Count} differences, first ones:\n" + string.Join("\n", differences.Take(15)));
        Assert.NotEmpty(expected);
    }
}
