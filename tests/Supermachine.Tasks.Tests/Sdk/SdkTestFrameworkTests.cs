using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;
using static Supermachine.Tasks.Tests.Sdk.TestFrameworkProjects;

namespace Supermachine.Tasks.Tests.Sdk;

/// <summary>
/// Zero flags, per test framework: a project whose only Supermachine line is
/// <c>&lt;MicroVmImage Include="REGISTRY/library/redis:7" /&gt;</c> bakes a ready server through
/// the image profile, and its test reaches it with GetConnectionString() through a class fixture
/// of xunit v3, NUnit or MSTest, under `dotnet test` on the packed SDK.
/// </summary>
public class SdkTestFrameworkTests : SdkRegistryTestBase
{

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public Task Xunit_v3_class_fixture_reaches_redis_through_its_connection_string() => PassesAsync(Framework.XunitV3);

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public Task NUnit_one_time_set_up_reaches_redis_through_its_connection_string() => PassesAsync(Framework.NUnit);

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public Task MSTest_class_initialize_reaches_redis_through_its_connection_string() => PassesAsync(Framework.MSTest);

    private async Task PassesAsync(Framework framework)
    {
        using var tests = new ThrowawayProject($"""
            <Project Sdk="Supermachine.Sdk/$(SdkVersion)">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <SupermachineCacheDir>{Cache}</SupermachineCacheDir>
              </PropertyGroup>
              <ItemGroup>
                <MicroVmImage Include="{Registry.Host}/library/redis:7" />
              </ItemGroup>
              <ItemGroup>
                {Packages(framework, "")}
              </ItemGroup>
            </Project>
            """, name: framework + "Tests", packagesFolder: Packages);
        tests.WriteFile("ImageTests.cs", TestClass(framework, "redis_7"));
        tests.WriteFile("Probe.cs", RedisProbe);

        ProcessResult test = await tests.DotnetAsync("test", "-nologo", "--logger", "trx;LogFileName=results.trx", "--results-directory", "results");

        Assert.True(test.ExitCode == 0, test.Output);
        string trx = await File.ReadAllTextAsync(Path.Combine(tests.Directory, "results", "results.trx"));
        Assert.Matches("<Counters total=\"1\" executed=\"1\" passed=\"1\" failed=\"0\"", trx);
    }
}
