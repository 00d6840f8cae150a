using System.Text.RegularExpressions;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Architecture;

/// <summary>
/// Data flows one way: Oci → Squashfs → Vmm → Guest → Dockerfile → Images → Bake → the public API
/// (the files at the root of Supermachine.Runtime) → Tasks. A file may use its own folder and the
/// folders before it, never one after it. Read from the sources (usings and qualified names of the
/// folders' namespaces, and the names of the public API's types), so a back edge fails here before
/// anyone builds on it. Vocabulary types that users see (ExecResult, Accelerator, ...) are in
/// namespace Supermachine but live in the folder that defines them, and may be used from there on.
/// </summary>
public partial class LayeringTests
{
    // Rank of each folder of Supermachine.Runtime (its namespace is Supermachine.FOLDER); "" is the root.
    private static readonly Dictionary<string, int> Rank = new(StringComparer.Ordinal)
    {
        ["Diagnostics"] = 0,
        ["Compression"] = 1,
        ["FileSystem"] = 1,
        ["Locations"] = 1,
        ["Oci"] = 2,
        ["Squashfs"] = 3,
        ["Vmm"] = 4,
        ["Guest"] = 5,
        ["Dockerfile"] = 6,
        ["Images"] = 7,
        ["Bake"] = 8,
        [""] = 9,
    };

    private static readonly string RuntimeRoot = Path.Combine(TestEnvironment.RepositoryRoot, "Supermachine.Runtime");

    [Fact]
    public void No_folder_of_the_runtime_uses_one_that_comes_after_it()
    {
        string[] publicApiTypes = Directory.EnumerateFiles(RuntimeRoot, "*.cs", SearchOption.TopDirectoryOnly)
            .SelectMany(f => TypeDeclaration().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            .Distinct()
            .ToArray();
        Assert.Contains("MicroVm", publicApiTypes);
        var publicApiUse = new Regex(@"(?<![\w.])(" + string.Join('|', publicApiTypes) + @")\b");

        var backEdges = new List<string>();
        foreach (string file in SourceFiles())
        {
            string text = StripCommentsAndStrings(File.ReadAllText(file));
            string own = FolderOf(file);
            int ownRank = RankOf(own, file);
            string relative = Path.GetRelativePath(TestEnvironment.RepositoryRoot, file);
            foreach (string used in UsedNamespaces(text))
            {
                if (used != own && RankOf(used, file) >= ownRank)
                {
                    backEdges.Add($"{relative} ({Display(own)}) uses {Display(used)}");
                }
            }
            if (own.Length > 0 && publicApiUse.Match(text) is { Success: true } m)
            {
                backEdges.Add($"{relative} ({Display(own)}) uses the public API type {m.Groups[1].Value}");
            }
        }
        Assert.True(backEdges.Count == 0, "Back edges against the data flow:\n" + string.Join('\n', backEdges.Distinct()));
    }

    [Fact]
    public void Every_folder_of_the_runtime_has_a_place_in_the_flow()
    {
        foreach (string dir in Directory.EnumerateDirectories(RuntimeRoot))
        {
            string name = Path.GetFileName(dir);
            if (name is "bin" or "obj" or "Properties")
            {
                continue;
            }
            Assert.True(Rank.ContainsKey(name), $"Supermachine.Runtime/{name} has no rank in LayeringTests.Rank; add it where it belongs in the flow.");
        }
    }

    private static IEnumerable<string> SourceFiles() =>
        Directory.EnumerateFiles(RuntimeRoot, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    private static string FolderOf(string file)
    {
        string relative = Path.GetRelativePath(RuntimeRoot, file);
        int slash = relative.IndexOf(Path.DirectorySeparatorChar);
        return slash < 0 ? "" : relative[..slash];
    }

    private static int RankOf(string top, string file) =>
        Rank.TryGetValue(top, out int rank) ? rank : throw new Xunit.Sdk.XunitException($"{file}: Supermachine.{top} has no rank in LayeringTests.Rank");

    private static IEnumerable<string> UsedNamespaces(string text)
    {
        foreach (Match m in UsingOrQualified().Matches(text))
        {
            yield return m.Groups[1].Value;
        }
        foreach (Match m in RelativeQualified().Matches(text))
        {
            if (Rank.ContainsKey(m.Groups[1].Value))
            {
                yield return m.Groups[1].Value;
            }
        }
    }

    private static string Display(string top) => top.Length == 0 ? "Supermachine (public API)" : "Supermachine." + top;

    // Comments and string contents say things ("see Bake/...") that are not uses.
    private static string StripCommentsAndStrings(string text) =>
        CommentOrString().Replace(text, m => m.Value.StartsWith('/') ? " " : "\"\"");

    [GeneratedRegex(@"\bSupermachine\.(\w+)")]
    private static partial Regex UsingOrQualified();

    // "Oci.Storage.ContentStore" written from inside namespace Supermachine.X.
    [GeneratedRegex(@"(?<![\w.])([A-Z]\w+)\.[A-Z]")]
    private static partial Regex RelativeQualified();

    [GeneratedRegex(@"^\s*(?:public|internal)\s+(?:sealed\s+|static\s+|abstract\s+|partial\s+|readonly\s+)*(?:class|record|struct|interface|enum)\s+(\w+)", RegexOptions.Multiline)]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|@""(?:[^""]|"""")*""|\$?""(?:[^""\\\n]|\\.)*""", RegexOptions.Singleline)]
    private static partial Regex CommentOrString();
}
