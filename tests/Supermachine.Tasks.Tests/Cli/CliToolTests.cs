using Supermachine.Tasks.Tests.Sdk;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;

namespace Supermachine.Tasks.Tests.Cli;

/// <summary>
/// The command line as a user gets it: the Supermachine.Cli .NET tool installed from the local feed
/// into a tool path, then `supermachine --version`, `bake` and `exec` from that install. exec prints
/// the workload's output and nothing else.
/// </summary>
public sealed class CliToolTests : IDisposable
{
    private static readonly string Feed = Path.Combine(TestEnvironment.RepositoryRoot, "artifacts", "packages");
    private readonly string _root = Directory.CreateTempSubdirectory("sm-tool-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private Dictionary<string, string?> Environment => new()
    {
        // Its own package folder: never a stale extraction of the same version.
        ["NUGET_PACKAGES"] = Path.Combine(_root, "packages"),
        ["SUPERMACHINE_CACHE"] = Path.Combine(_root, "cache"),
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
    };

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_tool_installs_from_the_local_feed_and_its_exec_prints_only_the_workloads_output()
    {
        Assert.True(File.Exists(Path.Combine(Feed, $"Supermachine.Cli.{ThrowawayProject.Version}.nupkg")), "run eng/setup.sh to pack the tool");
        string tools = Path.Combine(_root, "tools");
        // From a folder without a nuget.config, as a user anywhere would (the repository's maps Supermachine.* to the feed already).
        string outside = Directory.CreateDirectory(Path.Combine(_root, "anywhere")).FullName;
        ProcessResult install = await ProcessRunner.RunAsync("dotnet",
            ["tool", "install", "--tool-path", tools, "Supermachine.Cli", "--add-source", Feed, "--version", ThrowawayProject.Version], outside, Environment, TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, install.Output);
        string supermachine = Path.Combine(tools, "supermachine");

        ProcessResult version = await ProcessRunner.RunAsync(supermachine, ["--version"], outside, Environment);
        Assert.Equal(ThrowawayProject.Version, version.StandardOutput.Trim());

        string snapshot = Path.Combine(_root, "redis");
        ProcessResult bake = await ProcessRunner.RunAsync(supermachine, ["bake", $"oci-layout:{OciTestFixtures.Layout}:redis", snapshot, "--port", "6379"], outside, Environment, TimeSpan.FromMinutes(10));
        Assert.True(bake.ExitCode == 0, bake.Output);

        ProcessResult exec = await ProcessRunner.RunAsync(supermachine, ["exec", snapshot, "--", "redis-cli", "ping"], outside, Environment, TimeSpan.FromMinutes(3));
        Assert.True(exec.ExitCode == 0, exec.Output);
        Assert.Equal("PONG\n", exec.StandardOutput);
        Assert.Equal("", exec.StandardError);

        ProcessResult verbose = await ProcessRunner.RunAsync(supermachine, ["exec", "--verbose", snapshot, "--", "redis-cli", "ping"], outside, Environment, TimeSpan.FromMinutes(3));
        Assert.Equal("PONG\n", verbose.StandardOutput);
        Assert.Contains(": restored in ", verbose.StandardError);
    }
}
