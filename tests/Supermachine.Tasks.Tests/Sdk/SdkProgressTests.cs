using System.Text.RegularExpressions;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;

namespace Supermachine.Tasks.Tests.Sdk;

/// <summary>
/// What `dotnet build` shows at its default verbosity: a line per phase and a summary with the
/// phase times for a fresh bake, one line for a cache hit, never the workload's log.
/// </summary>
public class SdkProgressTests : SdkRegistryTestBase
{

    private string Project() => $"""
        <Project Sdk="Supermachine.Sdk/$(SdkVersion)">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <SupermachineCacheDir>{Cache}</SupermachineCacheDir>
          </PropertyGroup>
          <ItemGroup>
            <MicroVmImage Include="{Registry.Host}/library/redis:7" />
          </ItemGroup>
        </Project>
        """;

    private static string[] ImageLines(string output) =>
        output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("redis_7: ", StringComparison.Ordinal)).ToArray();

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public async Task Default_verbosity_shows_each_phase_and_a_timed_summary_then_one_line_for_a_cache_hit()
    {
        using var first = new ThrowawayProject(Project(), packagesFolder: Packages);
        first.WriteFile("Program.cs", "System.Console.WriteLine(1);");
        ProcessResult build = await first.DotnetAsync("build", "-nologo");
        Assert.True(build.ExitCode == 0, build.Output);
        // Kept beside the test results: the log a user sees.
        string logs = Directory.CreateDirectory(Path.Combine(TestEnvironment.RepositoryRoot, "artifacts", "logs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(logs, "sdk-progress-fresh.log"), build.StandardOutput);

        string[] lines = ImageLines(build.StandardOutput);
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^redis_7: pulled [0-9.]+ MiB in [0-9.]+ s \([0-9.]+ MiB/s, 3 layers\)$"));
        Assert.Contains("redis_7: writing the root filesystem", lines);
        Assert.Contains(lines, l => l.StartsWith("redis_7: booting (", StringComparison.Ordinal));
        Assert.Contains("redis_7: waiting for port 6379", lines);
        Assert.Contains("redis_7: snapshotting", lines);
        Assert.Matches(@"^redis_7: baked in [0-9.]+ s \(pull [0-9.]+, rootfs [0-9.]+, boot [0-9.]+, ready [0-9.]+, snapshot [0-9.]+\)$", lines[^1]);
        // No flood: the phases, at most a couple of pull lines, the summary.
        Assert.InRange(lines.Length, 6, 9);

        using var second = new ThrowawayProject(Project(), name: "Second", packagesFolder: Packages);
        second.WriteFile("Program.cs", "System.Console.WriteLine(2);");
        ProcessResult hit = await second.DotnetAsync("build", "-nologo");
        Assert.True(hit.ExitCode == 0, hit.Output);
        await File.WriteAllTextAsync(Path.Combine(logs, "sdk-progress-cache-hit.log"), hit.StandardOutput);
        string only = Assert.Single(ImageLines(hit.StandardOutput));
        Assert.Matches(@"^redis_7: reused the cached bake [0-9a-f]{12} \([0-9.]+ s\)$", only);
    }
}
