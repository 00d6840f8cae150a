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
}
