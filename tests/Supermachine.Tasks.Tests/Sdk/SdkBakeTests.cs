using System.Text.Json;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;

namespace Supermachine.Tasks.Tests.Sdk;

/// <summary>
/// The SDK end to end, as a user runs it: real dotnet build, build again, publish, test and clean of
/// throwaway projects against the packed packages, baking redis:7 from a registry on 127.0.0.1
/// reached through SupermachineRegistryMirrors, under the real engine.
/// </summary>
public class SdkBakeTests : SdkRegistryTestBase
{
    protected override IEnumerable<(string Source, string Target)> Images =>
        [.. base.Images, ($"oci:{OciTestFixtures.Layout}:busybox", "library/busybox:latest"), ($"oci:{OciTestFixtures.Layout}:multi", "library/multi:latest")];

    private string Project(string items, string extraProperties = "", bool test = false) => $"""
        <Project Sdk="Supermachine.Sdk/$(SdkVersion)">
          <PropertyGroup>
            {(test ? "" : "<OutputType>Exe</OutputType>")}
            <TargetFramework>net10.0</TargetFramework>
            <ImplicitUsings>enable</ImplicitUsings>
            <Nullable>enable</Nullable>
            <SupermachineRegistryMirrors>docker.io=http://{Registry.Host}</SupermachineRegistryMirrors>
            <SupermachineCacheDir>{Cache}</SupermachineCacheDir>
            {extraProperties}
          </PropertyGroup>
          <ItemGroup>{items}</ItemGroup>
          {(test ? """
          <ItemGroup>
            <PackageReference Include="Microsoft.NET.Test.Sdk" Version="18.0.1" />
            <PackageReference Include="xunit" Version="2.9.3" />
            <PackageReference Include="xunit.runner.visualstudio" Version="3.1.5" PrivateAssets="all" />
          </ItemGroup>
          """ : "")}
        </Project>
        """;

    private static void Succeeded(ProcessResult r) => Assert.True(r.ExitCode == 0, r.Output);

    /// <summary>The project's one test really ran and passed in the restored guest: the runner's own counts.</summary>
    private static async Task AssertOneTestPassedAsync(ThrowawayProject tests)
    {
        string trx = await File.ReadAllTextAsync(Path.Combine(tests.Directory, "results", "results.trx"));
        Assert.Matches("<Counters total=\"1\" executed=\"1\" passed=\"1\" failed=\"0\"", trx);
    }

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public async Task Build_bakes_once_then_skips_publishes_rebakes_on_change_and_cleans()
    {
        using var app = new ThrowawayProject(Project("""<MicroVmImage Include="redis:7" Port="6379" />"""), packagesFolder: Packages);
        app.WriteFile("Program.cs", "Console.WriteLine(\"app\");");
        string artifact = Path.Combine(app.Directory, "bin", "Debug", "net10.0", "microvms", "redis_7");

        ProcessResult first = await app.DotnetAsync("build", "-nologo", "-v:n");
        Succeeded(first);
        Assert.Contains("redis_7: pulling", first.StandardOutput);
        SnapshotManifestView manifest = SnapshotManifestView.Read(artifact);
        Assert.True(manifest.HasSnapshot);
        Assert.True(File.Exists(Path.Combine(artifact, "snapshot", "ram")));
        // Tags resolve to digests on the first build and are recorded beside the project.
        string lockText = await File.ReadAllTextAsync(Path.Combine(app.Directory, "microvms.lock.json"));
        Assert.Contains("docker.io/library/redis:7", lockText);
        Assert.Contains(manifest.ImageDigest, lockText);

        ProcessResult again = await app.DotnetAsync("build", "-nologo", "-v:d");
        Succeeded(again);
        Assert.Contains("Skipping target \"SupermachineBake\" because all output files are up-to-date", again.StandardOutput);
        Assert.DoesNotContain("redis_7: pulling", again.StandardOutput);

        ProcessResult publish = await app.DotnetAsync("publish", "-nologo", "-o", "pub");
        Succeeded(publish);
        Assert.True(File.Exists(Path.Combine(app.Directory, "pub", "microvms", "redis_7", "manifest.json")));
        Assert.True(File.Exists(Path.Combine(app.Directory, "pub", "microvms", "redis_7", "snapshot", "vmstate")));

        // A changed Env is a different workload: a new fingerprint and a new bake.
        File.WriteAllText(app.ProjectPath, File.ReadAllText(app.ProjectPath).Replace("Port=\"6379\"", "Port=\"6379\" Env=\"GREETING=changed\""));
        ProcessResult changed = await app.DotnetAsync("build", "-nologo", "-v:n");
        Succeeded(changed);
        Assert.Contains("redis_7: booting", changed.StandardOutput);
        SnapshotManifestView rebaked = SnapshotManifestView.Read(artifact);
        Assert.NotEqual(manifest.Fingerprint, rebaked.Fingerprint);
        Assert.Contains("GREETING=changed", rebaked.Json);

        // The cache key is computed without network and follows the inputs.
        string tasks = Path.Combine(Packages, "supermachine.sdk", ThrowawayProject.Version, "tasks", "net10.0", "Supermachine.Tasks.dll");
        ProcessResult key1 = await ProcessRunner.RunAsync("dotnet", [tasks, "cache-key", app.ProjectPath], app.Directory);
        ProcessResult key2 = await ProcessRunner.RunAsync("dotnet", [tasks, "cache-key", app.ProjectPath], app.Directory);
        Succeeded(key1);
        Assert.Matches(@"^supermachine-linux-x64-[0-9a-f]{20}$", key1.StandardOutput.Trim());
        Assert.Equal(key1.StandardOutput, key2.StandardOutput);
        File.WriteAllText(app.ProjectPath, File.ReadAllText(app.ProjectPath).Replace("GREETING=changed", "GREETING=other"));
        ProcessResult key3 = await ProcessRunner.RunAsync("dotnet", [tasks, "cache-key", app.ProjectPath], app.Directory);
        Assert.NotEqual(key1.StandardOutput, key3.StandardOutput);

        ProcessResult clean = await app.DotnetAsync("clean", "-nologo");
        Succeeded(clean);
        Assert.False(Directory.Exists(artifact));
    }

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public async Task Dotnet_test_restores_the_baked_image_per_test_and_a_second_project_reuses_theCache()
    {
        using var tests = new ThrowawayProject(Project("""<MicroVmImage Include="redis:7" Port="6379" />""", test: true), name: "RedisTests", packagesFolder: Packages);
        tests.WriteFile("RedisTests.cs", """
            using Supermachine;
            using Xunit;
            public class RedisTests
            {
                [Fact]
                public async Task Ping()
                {
                    await using MicroVm vm = await MicroVm.StartAsync("redis_7");
                    Assert.True(vm.Restored);
                    var r = await vm.ExecAsync(["redis-cli", "ping"]);
                    Assert.Equal("PONG\n", r.StandardOutput);
                }
            }
            """);
        ProcessResult test = await tests.DotnetAsync("test", "-nologo", "--logger", "trx;LogFileName=results.trx", "--results-directory", "results");
        Succeeded(test);
        await AssertOneTestPassedAsync(tests);

        using var second = new ThrowawayProject(Project("""<MicroVmImage Include="redis:7" Port="6379" />"""), name: "Second", packagesFolder: Packages);
        second.WriteFile("Program.cs", "Console.WriteLine(1);");
        ProcessResult reuse = await second.DotnetAsync("build", "-nologo", "-v:n");
        Succeeded(reuse);
        Assert.Contains("reused the cached bake", reuse.StandardOutput);
        Assert.DoesNotContain("redis_7: booting", reuse.StandardOutput);
    }

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public async Task A_Dockerfile_image_is_built_in_dotnet_build_restored_in_dotnet_test_and_rebuilt_when_its_context_changes()
    {
        using var tests = new ThrowawayProject(Project("""<MicroVmImage Include="api" Dockerfile="Dockerfile" BuildArgs="GREETING=built by RUN" />""", test: true), name: "ApiTests", packagesFolder: Packages);
        tests.WriteFile("Dockerfile", """
            FROM busybox
            ARG GREETING
            RUN mkdir -p /srv && echo "$GREETING" > /srv/run.txt
            COPY message.txt /srv/message.txt
            CMD ["sleep", "100000"]
            """);
        tests.WriteFile(".dockerignore", "bin/\nobj/\n.packages/\nresults/\n*.cs\n");
        tests.WriteFile("message.txt", "first\n");
        tests.WriteFile("ApiTests.cs", """
            using Supermachine;
            using Xunit;
            public class ApiTests
            {
                [Fact]
                public async Task Reads_what_the_Dockerfile_wrote()
                {
                    await using MicroVm vm = await MicroVm.StartAsync("api");
                    Assert.True(vm.Restored);
                    Assert.Equal("built by RUN\n", System.Text.Encoding.UTF8.GetString(await vm.ReadFileAsync("/srv/run.txt")));
                    Assert.Equal("first\n", System.Text.Encoding.UTF8.GetString(await vm.ReadFileAsync("/srv/message.txt")));
                }
            }
            """);
        ProcessResult test = await tests.DotnetAsync("test", "-nologo", "--logger", "trx;LogFileName=results.trx", "--results-directory", "results");
        Succeeded(test);
        await AssertOneTestPassedAsync(tests);
        string artifact = Path.Combine(tests.Directory, "bin", "Debug", "net10.0", "microvms", "api");
        string firstDigest = SnapshotManifestView.Read(artifact).ImageDigest;

        // Unchanged inputs: MSBuild skips the bake. A changed context file: rebuilt, the RUN before it from the step cache.
        ProcessResult again = await tests.DotnetAsync("build", "-nologo", "-v:n");
        Succeeded(again);
        Assert.DoesNotContain("api: building", again.StandardOutput);
        string tasks = Path.Combine(Packages, "supermachine.sdk", ThrowawayProject.Version, "tasks", "net10.0", "Supermachine.Tasks.dll");
        ProcessResult keyBefore = await ProcessRunner.RunAsync("dotnet", [tasks, "cache-key", tests.ProjectPath], tests.Directory);
        tests.WriteFile("message.txt", "second\n");
        ProcessResult keyAfter = await ProcessRunner.RunAsync("dotnet", [tasks, "cache-key", tests.ProjectPath], tests.Directory);
        Succeeded(keyBefore);
        Succeeded(keyAfter);
        Assert.NotEqual(keyBefore.StandardOutput, keyAfter.StandardOutput); // the CI cache key follows the build context's content
        ProcessResult changed = await tests.DotnetAsync("build", "-nologo", "-v:n");
        Succeeded(changed);
        Assert.Contains("api: building", changed.StandardOutput);
        Assert.Contains("1 cached", changed.StandardOutput);
        Assert.NotEqual(firstDigest, SnapshotManifestView.Read(artifact).ImageDigest);
    }

    [RequiresToolFact("qemu-system-aarch64", "docker-registry", "skopeo")]
    public async Task Platform_metadata_bakes_the_arm64_manifest_and_dotnet_test_restores_it_as_an_aarch64_guest()
    {
        using var tests = new ThrowawayProject(Project("""<MicroVmImage Include="multi" Name="box" Platform="linux/arm64" Command="sleep 100000" />""", test: true), name: "ArmTests", packagesFolder: Packages);
        tests.WriteFile("ArmTests.cs", """
            using Supermachine;
            using Xunit;
            public class ArmTests
            {
                [Fact]
                public async Task Runs_as_aarch64()
                {
                    await using MicroVm vm = await MicroVm.StartAsync("box");
                    Assert.True(vm.Restored);
                    var r = await vm.ExecAsync(["uname", "-m"]);
                    Assert.Equal("aarch64\n", r.StandardOutput);
                }
            }
            """);
        ProcessResult test = await tests.DotnetAsync("test", "-nologo", "-v:n", "--logger", "trx;LogFileName=results.trx", "--results-directory", "results");
        Succeeded(test);
        if (!OperatingSystem.IsMacOS() && System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.Arm64)
        {
            Assert.Contains("warning SM4030", test.StandardOutput); // emulated here, and the build says why it is slow
        }
        await AssertOneTestPassedAsync(tests);
        string manifest = File.ReadAllText(Path.Combine(tests.Directory, "bin", "Debug", "net10.0", "microvms", "box", "manifest.json"));
        Assert.Contains("\"architecture\": \"arm64\"", manifest);
        Assert.Contains("linux/arm64", await File.ReadAllTextAsync(Path.Combine(tests.Directory, "microvms.lock.json")));
    }

    [RequiresToolFact("docker-registry", "skopeo")]
    public async Task Locked_mode_fails_for_a_reference_missing_from_the_lock_file()
    {
        using var app = new ThrowawayProject(Project("""<MicroVmImage Include="redis:7" Port="6379" />""", "<SupermachineLockMode>Locked</SupermachineLockMode>"), packagesFolder: Packages);
        app.WriteFile("Program.cs", "Console.WriteLine(1);");

        ProcessResult r = await app.DotnetAsync("build", "-nologo");

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("error SM2305", r.StandardOutput);
        Assert.Contains("'redis:7' is not in the lock file", r.StandardOutput);
        Assert.False(File.Exists(Path.Combine(app.Directory, "microvms.lock.json")));
    }

    /// <summary>The few manifest fields these tests read, straight from the JSON a user would see.</summary>
    private sealed record SnapshotManifestView(string Json, string Fingerprint, string ImageDigest, bool HasSnapshot)
    {
        public static SnapshotManifestView Read(string directory)
        {
            string json = File.ReadAllText(Path.Combine(directory, "manifest.json"));
            using JsonDocument doc = JsonDocument.Parse(json);
            JsonElement root = doc.RootElement;
            return new(json, root.GetProperty("fingerprint").GetString()!, root.GetProperty("imageDigest").GetString()!, root.GetProperty("hasSnapshot").GetBoolean());
        }
    }
}
