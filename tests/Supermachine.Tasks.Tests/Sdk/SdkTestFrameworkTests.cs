using Supermachine.Tests.Infrastructure;
using static Supermachine.Tasks.Tests.Sdk.TestFrameworkProjects;

namespace Supermachine.Tasks.Tests.Sdk;

/// <summary>
/// Zero flags, per test framework: a project whose only Supermachine line is
/// <c>&lt;MicroVmImage Include="REGISTRY/library/postgres:15" /&gt;</c> bakes a ready PostgreSQL
/// through the image profile, and its test opens an Npgsql connection with GetConnectionString()
/// from a class fixture of xunit v3, NUnit or MSTest and runs a query, under `dotnet test` on the
/// packed SDK. The image is the Debian-packaged PostgreSQL fixture, pushed to a registry on 127.0.0.1.
/// </summary>
public class SdkTestFrameworkTests : SdkRegistryTestBase
{
    protected override IEnumerable<(string Source, string Target)> Images => [($"oci:{TestEnvironment.DebianFixturesLayout}:postgres", "library/postgres:15")];

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public Task Xunit_v3_class_fixture_queries_postgres_through_its_connection_string() => PassesAsync(Framework.XunitV3);

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public Task NUnit_one_time_set_up_queries_postgres_through_its_connection_string() => PassesAsync(Framework.NUnit);

    [RequiresToolFact("qemu-system-x86_64", "docker-registry", "skopeo")]
    public Task MSTest_class_initialize_queries_postgres_through_its_connection_string() => PassesAsync(Framework.MSTest);

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
                <MicroVmImage Include="{Registry.Host}/library/postgres:15" />
              </ItemGroup>
              <ItemGroup>
                {PackageReferences(framework, """<PackageReference Include="Npgsql" Version="10.0.3" />""")}
              </ItemGroup>
            </Project>
            """, name: framework + "Tests", packagesFolder: Packages);
        tests.WriteFile("ImageTests.cs", TestClass(framework, "postgres_15"));
        tests.WriteFile("Probe.cs", PostgresProbe);

        ProcessResult test = await tests.DotnetAsync("test", "-nologo", "--logger", "trx;LogFileName=results.trx", "--results-directory", "results");

        Assert.True(test.ExitCode == 0, test.Output);
        string trx = await File.ReadAllTextAsync(Path.Combine(tests.Directory, "results", "results.trx"));
        Assert.Matches("<Counters total=\"1\" executed=\"1\" passed=\"1\" failed=\"0\"", trx);
    }
}
