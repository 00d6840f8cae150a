using Supermachine.Tasks.Cli;
using Supermachine.Tasks.Cli.Commands;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tasks.Tests.Cli;

public class DockerfileParseCommandTests
{
    private static readonly string Conformance = Path.Combine(TestEnvironment.RepositoryRoot, "tests", "Supermachine.Runtime.Tests", "Dockerfile", "conformance");

    [Fact]
    public void Prints_buildkits_dump_byte_for_byte_for_every_positive_case()
    {
        string[] cases = Directory.GetDirectories(Path.Combine(Conformance, "testfiles"));
        Assert.NotEmpty(cases);
        foreach (string dir in cases)
        {
            var stdout = new StringWriter();
            int exit = DockerfileParseCommand.Run(Path.Combine(dir, "Dockerfile"), stdout);
            Assert.Equal(0, exit);
            Assert.Equal(File.ReadAllText(Path.Combine(dir, "result")), stdout.ToString());
        }
    }

    [Fact]
    public async Task Rejects_every_negative_case_with_exit_1_and_the_line()
    {
        foreach (string dir in Directory.GetDirectories(Path.Combine(Conformance, "testfiles-negative")))
        {
            string file = Path.Combine(dir, "Dockerfile");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int exit = await Program.RunAsync(["dockerfile", "parse", file], stdout, stderr, CancellationToken.None);
            Assert.Equal(Program.Failure, exit);
            Assert.Matches(@"^supermachine : error SM22\d\d: .*Dockerfile'? .*line \d+", stderr.ToString());
            Assert.Equal("", stdout.ToString());
        }
    }

    [Fact]
    public async Task A_missing_file_is_a_coded_error()
    {
        var stderr = new StringWriter();
        int exit = await Program.RunAsync(["dockerfile", "parse", "/nonexistent/Dockerfile"], new StringWriter(), stderr, CancellationToken.None);
        Assert.Equal(Program.Failure, exit);
        Assert.Contains("SM2207", stderr.ToString());
    }
}
