using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Parsing;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Dockerfile;

/// <summary>
/// BuildKit's own parser cases (copied under conformance/, Apache-2.0): every positive case must
/// dump byte for byte as BuildKit's dumper does, every negative case must fail with an SM22xx
/// error that names the line.
/// </summary>
public class ParserConformanceTests
{
    private static readonly string Root = Path.Combine(TestEnvironment.RepositoryRoot, "tests", "Supermachine.Runtime.Tests", "Dockerfile", "conformance");

    public static TheoryData<string> PositiveCases() => Cases("testfiles");

    public static TheoryData<string> NegativeCases() => Cases("testfiles-negative");

    private static TheoryData<string> Cases(string folder)
    {
        var data = new TheoryData<string>();
        foreach (string dir in Directory.GetDirectories(Path.Combine(Root, folder)).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(dir));
        }
        return data;
    }

    [Fact]
    public void The_copied_suite_is_complete()
    {
        Assert.Equal(33, PositiveCases().Count);
        Assert.Equal(4, NegativeCases().Count);
        Assert.True(File.Exists(Path.Combine(Root, "LICENSE")));
    }

    [Theory]
    [MemberData(nameof(PositiveCases))]
    public void Positive_case_dumps_exactly_like_buildkit(string name)
    {
        string dir = Path.Combine(Root, "testfiles", name);
        byte[] expected = File.ReadAllBytes(Path.Combine(dir, "result"));

        DockerfileSyntax syntax = DockerfileParser.ParseFile(Path.Combine(dir, "Dockerfile"));
        // The dumper prints the dump and a newline (Go's fmt.Println).
        byte[] actual = System.Text.Encoding.UTF8.GetBytes(syntax.Dump() + "\n");

        Assert.Equal(System.Text.Encoding.UTF8.GetString(expected), System.Text.Encoding.UTF8.GetString(actual));
        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(NegativeCases))]
    public void Negative_case_is_rejected_with_a_coded_error_naming_the_line(string name)
    {
        string file = Path.Combine(Root, "testfiles-negative", name, "Dockerfile");

        var error = Assert.Throws<SupermachineException>(() => DockerfileParser.ParseFile(file));

        Assert.StartsWith("SM22", error.Code);
        Assert.Contains(file, error.Message);
        Assert.Matches(@"line \d+", error.Message);
    }
}
