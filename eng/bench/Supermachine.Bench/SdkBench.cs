using System.Diagnostics;

namespace Supermachine.Bench;

/// <summary>
/// The cost the SDK adds to a no-op build: a project with four MicroVmImage items against the same
/// project without them, side by side, both already built; plus the first build's phases. Needs the
/// packed SDK (eng/setup.sh) and the local registry that eng/bench.sh starts.
/// </summary>
public sealed class SdkBench : IBenchmark
{
    public string Name => "sdk";

    public string Description => "no-op dotnet build with four MicroVmImage items vs none; first build by phase";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        string repo = FindRepository();
        string feed = Path.Combine(repo, "artifacts", "packages");
        string version = File.ReadAllText(Path.Combine(repo, "Directory.Build.props")).Split("<SupermachineVersion>")[1].Split('<')[0];
        string packages = Path.Combine(context.WorkDirectory, "packages");
        string cache = Path.Combine(context.WorkDirectory, "cache");
        string mirrors = Environment.GetEnvironmentVariable("SUPERMACHINE_REGISTRY_MIRRORS") ?? "";

        string with = Write(context.WorkDirectory, "with", feed, version, cache, mirrors, """
            <MicroVmImage Include="redis:7" />
            <MicroVmImage Include="redis:7" Name="redis_two" Env="ROLE=second" />
            <MicroVmImage Include="redis:7" Name="redis_three" />
            <MicroVmImage Include="redis:7" Name="redis_four" Env="ROLE=second" />
            """);
        string without = Write(context.WorkDirectory, "without", feed, version, cache, mirrors, "");

        (TimeSpan firstWith, string log) = await BuildAsync(with, packages, "-v:n");
        (TimeSpan firstWithout, _) = await BuildAsync(without, packages, "-v:n");
        context.Report.WriteLine($"first build with four images (two bakes, two from the bake cache): {firstWith.TotalSeconds:F1} s (without: {firstWithout.TotalSeconds:F1} s)");
        foreach (string line in log.Split('\n').Where(l => l.Contains("redis_", StringComparison.Ordinal) && l.Contains(": ", StringComparison.Ordinal)))
        {
            context.Report.WriteLine("    " + line.Trim());
        }

        var withTimes = new List<double>();
        var withoutTimes = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            // Alternated, so load on the machine hits both sides alike.
            withTimes.Add((await BuildAsync(with, packages, "-v:q")).Elapsed.TotalSeconds);
            withoutTimes.Add((await BuildAsync(without, packages, "-v:q")).Elapsed.TotalSeconds);
        }
        double a = Median(withTimes);
        double b = Median(withoutTimes);
        context.Report.WriteLine("| no-op dotnet build | with 4 images | without | added |");
        context.Report.WriteLine("| --- | --- | --- | --- |");
        context.Row("median of 5", $"{a:F2} s", $"{b:F2} s", $"{a - b:+0.00;-0.00} s ({a / b:F2}x)");
    }

    private static string Write(string root, string name, string feed, string version, string cache, string mirrors, string items)
    {
        string dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
            <configuration><packageSources><clear /><add key="local" value="{feed}" /><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources></configuration>
            """);
        File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(dir, "Program.cs"), "System.Console.WriteLine(1);");
        File.WriteAllText(Path.Combine(dir, name + ".csproj"), $"""
            <Project Sdk="Supermachine.Sdk/{version}">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <SupermachineCacheDir>{cache}</SupermachineCacheDir>
                <SupermachineRegistryMirrors>{mirrors}</SupermachineRegistryMirrors>
              </PropertyGroup>
              <ItemGroup>{items}</ItemGroup>
            </Project>
            """);
        return dir;
    }

    private static async Task<(TimeSpan Elapsed, string Output)> BuildAsync(string dir, string packages, string verbosity)
    {
        var psi = new ProcessStartInfo("dotnet", ["build", "-nologo", verbosity])
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["NUGET_PACKAGES"] = packages;
        var clock = Stopwatch.StartNew();
        using Process process = Process.Start(psi)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet build in {dir} failed:\n{output}{await error}");
        }
        return (clock.Elapsed, output);
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Supermachine.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Run from a checkout (Supermachine.sln not found).");
    }
}
