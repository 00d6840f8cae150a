using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tasks.Tests.Sdk;

/// <summary>Real dotnet builds of throwaway projects against the locally packed Supermachine.Sdk.</summary>
public class SdkImportTests
{
    private const string ConsoleProject = """
        <Project Sdk="Supermachine.Sdk/$(SdkVersion)">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <ImplicitUsings>enable</ImplicitUsings>
            <Nullable>enable</Nullable>
          </PropertyGroup>
        ITEMS
        </Project>
        """;

    [Fact]
    public async Task The_items_and_properties_are_seen_with_derived_and_explicit_names()
    {
        using var project = new ThrowawayProject(ConsoleProject.Replace("ITEMS", """
              <PropertyGroup>
                <SupermachineLockMode>Locked</SupermachineLockMode>
                <SupermachineRegistryMirrors>docker.io=http://127.0.0.1:5999</SupermachineRegistryMirrors>
              </PropertyGroup>
              <ItemGroup>
                <MicroVmImage Include="redis:7" Port="6379" Env="A=1;B=2" />
                <MicroVmImage Include="ghcr.io/acme/api:1.2" Name="api" />
              </ItemGroup>
            """));
        File.WriteAllText(Path.Combine(project.Directory, "Program.cs"), "Console.WriteLine(1);");

        ProcessResult r = await project.DotnetAsync("msbuild", "-restore", "-t:SupermachineShowConfiguration", "-nologo");

        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Contains($"SupermachineSdkVersion={ThrowawayProject.Version}", r.StandardOutput);
        Assert.Contains("SupermachineBakeEnabled=true", r.StandardOutput);
        Assert.Contains("SupermachineLockMode=Locked", r.StandardOutput);
        Assert.Contains("SupermachineRegistryMirrors=docker.io=http://127.0.0.1:5999", r.StandardOutput);
        Assert.Contains("MicroVmImage: redis:7 Name=redis_7 Port=6379 Env=A=1;B=2 ArtifactDirectory=", r.StandardOutput);
        Assert.Contains("MicroVmImage: ghcr.io/acme/api:1.2 Name=api Port= ", r.StandardOutput);
        Assert.Matches(@"ArtifactDirectory=\S*/microvms/redis_7/", r.StandardOutput);
    }

    [Fact]
    public async Task A_project_without_images_builds_runs_and_cleans_like_Microsoft_NET_Sdk()
    {
        using var project = new ThrowawayProject(ConsoleProject.Replace("ITEMS", ""));
        File.WriteAllText(Path.Combine(project.Directory, "Program.cs"),
            "Console.WriteLine(\"runtime:\" + typeof(Supermachine.MicroVm).Assembly.GetName().Name);");

        ProcessResult run = await project.DotnetAsync("run", "-nologo");

        Assert.True(run.ExitCode == 0, run.Output);
        // The SDK adds the runtime package for the app, implicitly.
        Assert.Contains("runtime:Supermachine.Runtime", run.StandardOutput);
        Assert.DoesNotContain("SM", run.StandardError);

        string output = Path.Combine(project.Directory, "bin", "Debug", "net10.0");
        string microvms = Path.Combine(output, "microvms", "stale");
        Directory.CreateDirectory(microvms);
        ProcessResult clean = await project.DotnetAsync("clean", "-nologo");
        Assert.True(clean.ExitCode == 0, clean.Output);
        Assert.False(Directory.Exists(Path.Combine(output, "microvms")), "dotnet clean removes the baked artifacts from the output");
    }

    [Theory]
    [InlineData("""<MicroVmImage Include="redis:7" /><MicroVmImage Include="ghcr.io/other/redis:7" />""",
        "SM2301", "'redis:7' and 'ghcr.io/other/redis:7' both have the name 'redis_7'")]
    [InlineData("""<MicroVmImage Include="redis:7" Port="http" />""", "SM2303", "Port=\"http\"")]
    [InlineData("""<MicroVmImage Include="redis:7" Env="NOEQUALS" />""", "SM2304", "Env entry 'NOEQUALS'")]
    [InlineData("""<MicroVmImage Include="redis:7" Name="../escape" />""", "SM2302", "'../escape'")]
    public async Task Bad_items_fail_the_build_with_their_code_naming_the_image(string items, string code, string expected)
    {
        using var project = new ThrowawayProject(ConsoleProject.Replace("ITEMS", $"<ItemGroup>{items}</ItemGroup>"));
        File.WriteAllText(Path.Combine(project.Directory, "Program.cs"), "Console.WriteLine(1);");

        ProcessResult r = await project.DotnetAsync("build", "-nologo");

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"error {code}", r.StandardOutput);
        Assert.Contains(expected, r.StandardOutput);
        // Attributed to the project file, so IDEs and CI annotate the right place.
        Assert.Contains("App.csproj", r.StandardOutput);
    }

    [Fact]
    public void Global_json_pins_the_same_sdk_version_the_packages_carry()
    {
        string globalJson = File.ReadAllText(Path.Combine(TestEnvironment.RepositoryRoot, "global.json"));
        Assert.Contains($"\"Supermachine.Sdk\": \"{ThrowawayProject.Version}\"", globalJson);
    }
}
