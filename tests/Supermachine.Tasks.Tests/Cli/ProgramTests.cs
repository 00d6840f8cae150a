using Supermachine.Tasks.Cli;
using Supermachine.Tasks.Cli.Commands;

namespace Supermachine.Tasks.Tests.Cli;

public class ProgramTests
{
    private static async Task<(int Exit, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await Program.RunAsync(args, stdout, stderr, CancellationToken.None);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Help_lists_every_verb()
    {
        var (exit, output, _) = await Run("--help");
        Assert.Equal(0, exit);
        foreach (CommandSpec command in CommandTable.All)
        {
            Assert.Contains(command.Name, output);
        }
    }

    [Fact]
    public async Task Version_prints_the_package_version()
    {
        var (exit, output, _) = await Run("--version");
        Assert.Equal(0, exit);
        Assert.Matches(@"^\d+\.\d+\.\d+", output.Trim());
    }

    [Fact]
    public async Task Usage_errors_exit_2_with_a_coded_message_and_the_usage()
    {
        var (exit, _, error) = await Run("bake", "only-one");
        Assert.Equal(Program.UsageError, exit);
        Assert.Contains("error SM9003", error);
        Assert.Contains("Usage: supermachine bake IMAGE SNAPSHOT_DIR", error);
    }

    [Theory]
    [InlineData("exec", "/no/such/snapshot")]
    [InlineData("run", "/no/such/snapshot", "-p", "abc:7000")]
    [InlineData("run", "/no/such/snapshot", "-p", "70000:7000")]
    [InlineData("run", "/no/such/snapshot", "-p", "7000:0")]
    [InlineData("run", "/no/such/snapshot", "-p", "1:2:3")]
    public async Task Arguments_a_handler_checks_are_usage_errors_before_any_work(params string[] args)
    {
        var (exit, _, error) = await Run(args);
        Assert.Equal(Program.UsageError, exit);
        Assert.Contains("error SM9003", error);
        Assert.Contains($"Usage: supermachine {args[0]}", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public async Task An_unexpected_exception_is_one_coded_line_and_verbose_adds_the_trace()
    {
        CommandSpec faulty = new("faulty", "", "Fails the way a bug would.", 0, 0, [],
            (_, _) => throw new InvalidOperationException("the state was\nnot what it should be"));
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = await Program.RunAsync(["faulty"], [faulty], stdout, stderr, CancellationToken.None);
        Assert.Equal(Program.Failure, exit);
        string line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("error SM9010", line);
        Assert.Contains("'faulty'", line);
        Assert.Contains("InvalidOperationException: the state was not what it should be", line);
        Assert.Contains("--verbose", line);

        stderr = new StringWriter();
        exit = await Program.RunAsync(["faulty", "--verbose"], [faulty], stdout, stderr, CancellationToken.None);
        Assert.Equal(Program.Failure, exit);
        Assert.Contains("error SM9010", stderr.ToString());
        Assert.Contains("   at ", stderr.ToString());
    }

    [Fact]
    public async Task Verbose_after_the_separator_belongs_to_the_guest_command()
    {
        var stdout = new StringWriter();
        CommandSpec echo = new("echo", "-- ARGV...", "Prints its argv.", 0, 0, [],
            (command, _) =>
            {
                stdout.Write(string.Join(' ', command.Trailing));
                return Task.FromResult(0);
            },
            AcceptsTrailingArguments: true);
        int exit = await Program.RunAsync(["echo", "--verbose", "--", "tool", "--verbose"], [echo], stdout, new StringWriter(), CancellationToken.None);
        Assert.Equal(0, exit);
        Assert.Equal("tool --verbose", stdout.ToString());
    }
}
