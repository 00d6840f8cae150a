using Supermachine.Tests.Infrastructure;
using System.Security.Cryptography;

namespace Supermachine.Tests.Oci;

/// <summary>
/// Every entry of a directory tree as lstat sees it (path, type, mode, uid/gid, size, content
/// hash, link target, device, hard-link group, mtime for non-directories), to compare our
/// extraction with umoci's entry by entry.
/// </summary>
public static class TreeSnapshot
{
    public static IReadOnlyList<string> Of(string root)
    {
        string output = ProcessRunner.Run("find", [root, "-mindepth", "1", "-printf", "%P\\0%y\\0%#m\\0%U\\0%G\\0%s\\0%l\\0%i\\0%T@\\0%D\\0"]);
        string[] f = output.Split('\0');
        var rows = new List<(string Path, string Type, string Mode, string Uid, string Gid, string Size, string Link, string Inode, string Mtime)>();
        for (int i = 0; i + 9 < f.Length; i += 10)
        {
            rows.Add((f[i], f[i + 1], f[i + 2], f[i + 3], f[i + 4], f[i + 5], f[i + 6], f[i + 7], f[i + 8].Split('.')[0]));
        }
        var groups = rows.Where(r => r.Type == "f").GroupBy(r => r.Inode).ToDictionary(g => g.Key, g => string.Join(",", g.Select(r => r.Path).Order(StringComparer.Ordinal)));
        var result = new List<string>();
        foreach (var r in rows.OrderBy(r => r.Path, StringComparer.Ordinal))
        {
            string full = Path.Combine(root, r.Path);
            string content = r.Type == "f" ? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(full))) : "";
            string size = r.Type is "f" or "l" ? r.Size : "";
            string device = r.Type is "c" or "b" ? ProcessRunner.Run("stat", ["-c", "%t:%T", full]).Trim() : "";
            string group = r.Type == "f" && groups[r.Inode].Contains(',') ? groups[r.Inode] : "";
            string mtime = r.Type == "d" ? "" : r.Mtime;
            result.Add($"{r.Path} type={r.Type} mode={r.Mode} owner={r.Uid}:{r.Gid} size={size} sha256={content} link={r.Link} dev={device} links=[{group}] mtime={mtime}");
        }
        return result;
    }

    /// <summary>Asserts two trees are equal, listing the first differences.</summary>
    public static void AssertEqual(IReadOnlyList<string> expected, IReadOnlyList<string> actual)
    {
        var missing = expected.Except(actual).Take(10).ToArray();
        var extra = actual.Except(expected).Take(10).ToArray();
        Assert.True(missing.Length == 0 && extra.Length == 0,
            $"trees differ.\nexpected but missing:\n  {string.Join("\n  ", missing)}\nunexpected:\n  {string.Join("\n  ", extra)}");
        Assert.Equal(expected.Count, actual.Count);
    }
}
