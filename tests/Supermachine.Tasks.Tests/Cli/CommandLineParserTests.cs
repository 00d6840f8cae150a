using Supermachine.Tasks.Cli;
using Supermachine.Tasks.Cli.Commands;

namespace Supermachine.Tasks.Tests.Cli;

public class CommandLineParserTests
{
    private static ParsedCommand ParseRun(params string[] args) =>
        Assert.IsType<Invocation.Run>(CommandLineParser.Parse(args, CommandTable.All)).Command;

    [Fact]
    public void Bake_takes_positionals_short_and_long_options_and_repeats()
    {
        ParsedCommand c = ParseRun("bake", "redis:7", "out", "-p", "6379", "--env", "A=1", "-e", "B=2", "--memory=512");
        Assert.Equal("bake", c.Spec.Name);
        Assert.Equal(["redis:7", "out"], c.Arguments);
        Assert.Equal("6379", c.Value("port"));
        Assert.Equal(["A=1", "B=2"], c.Values("env"));
        Assert.Equal("512", c.Value("memory"));
        Assert.False(c.Has("vcpus"));
    }

    [Fact]
    public void Everything_after_double_dash_is_passed_through_untouched()
    {
        ParsedCommand c = ParseRun("exec", "snap", "--", "redis-cli", "--help", "-p", "1");
        Assert.Equal(["snap"], c.Arguments);
        Assert.Equal(["redis-cli", "--help", "-p", "1"], c.Trailing);
    }

    [Fact]
    public void Two_word_verbs_are_matched()
    {
        ParsedCommand c = ParseRun("dockerfile", "parse", "Dockerfile");
        Assert.Equal("dockerfile parse", c.Spec.Name);
        Assert.Equal(["Dockerfile"], c.Arguments);
    }

    [Theory]
    [InlineData(new[] { "bake", "redis:7" }, "needs IMAGE SNAPSHOT_DIR")]
    [InlineData(new[] { "bake", "a", "b", "c" }, "Unexpected argument 'c'")]
    [InlineData(new[] { "bake", "a", "b", "--bogus" }, "Unknown option '--bogus'")]
    [InlineData(new[] { "bake", "a", "b", "--port" }, "needs a value")]
    [InlineData(new[] { "bake", "a", "b", "--port", "1", "--port", "2" }, "only once")]
    [InlineData(new[] { "frobnicate" }, "Unknown command 'frobnicate'")]
    [InlineData(new[] { "rootfs", "a", "b", "--", "x" }, "'--' is not accepted")]
    public void Bad_usage_says_what_is_wrong(string[] args, string expected)
    {
        var e = Assert.Throws<UsageException>(() => CommandLineParser.Parse(args, CommandTable.All));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("--help")]
    [InlineData("-h")]
    public void No_arguments_or_help_shows_general_help(string commandLine)
    {
        string[] args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Null(Assert.IsType<Invocation.Help>(CommandLineParser.Parse(args, CommandTable.All)).Command);
    }

    [Fact]
    public void Command_help_names_the_command()
    {
        var help = Assert.IsType<Invocation.Help>(CommandLineParser.Parse(["bake", "--help"], CommandTable.All));
        Assert.Equal("bake", help.Command!.Name);
    }

    [Fact]
    public void Version_is_recognised()
    {
        Assert.IsType<Invocation.Version>(CommandLineParser.Parse(["--version"], CommandTable.All));
    }
}
