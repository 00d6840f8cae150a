namespace Supermachine.Tasks.Tests.Sdk;

/// <summary>
/// A user's test project on each test framework, using <see cref="MicroVmFixture"/> the way that
/// framework shares state between the tests of a class: xunit v3's IAsyncLifetime (ValueTask),
/// NUnit's [OneTimeSetUp], MSTest's [ClassInitialize]. Each asks its image for
/// GetConnectionString() and hands it to <c>Probe</c>, the client code of the image under test.
/// </summary>
internal static class TestFrameworkProjects
{
    public enum Framework
    {
        XunitV3,
        NUnit,
        MSTest,
    }

    /// <summary>The package references of <paramref name="framework"/>, runnable by `dotnet test` (VSTest).</summary>
    public static string PackageReferences(Framework framework, string extra) => framework switch
    {
        // xunit.v3 makes the project an Exe: the SDK must bake for it as for a library.
        Framework.XunitV3 => """
            <PackageReference Include="Microsoft.NET.Test.Sdk" Version="18.0.1" />
            <PackageReference Include="xunit.v3" Version="3.2.2" />
            <PackageReference Include="xunit.runner.visualstudio" Version="3.1.5" PrivateAssets="all" />
            """,
        Framework.NUnit => """
            <PackageReference Include="Microsoft.NET.Test.Sdk" Version="18.0.1" />
            <PackageReference Include="NUnit" Version="4.4.0" />
            <PackageReference Include="NUnit3TestAdapter" Version="5.2.0" />
            """,
        _ => """
            <PackageReference Include="Microsoft.NET.Test.Sdk" Version="18.0.1" />
            <PackageReference Include="MSTest.TestFramework" Version="3.11.1" />
            <PackageReference Include="MSTest.TestAdapter" Version="3.11.1" />
            """,
    } + extra;

    /// <summary>A test class of <paramref name="framework"/> over the image <paramref name="image"/>: one test that awaits <c>Probe.RunAsync(connectionString)</c>.</summary>
    public static string TestClass(Framework framework, string image) => framework switch
    {
        Framework.XunitV3 => $$"""
            using Supermachine;
            using Xunit;

            // xunit v3's IAsyncLifetime wants a ValueTask InitializeAsync; DisposeAsync comes from the base class.
            public sealed class ImageFixture() : MicroVmFixture("{{image}}"), IAsyncLifetime
            {
                ValueTask IAsyncLifetime.InitializeAsync() => new(InitializeAsync());
            }

            public class ImageTests(ImageFixture image) : IClassFixture<ImageFixture>
            {
                [Fact]
                public async Task Answers_through_its_connection_string()
                {
                    Assert.True(image.Vm.Restored);
                    await Probe.RunAsync(image.GetConnectionString());
                }
            }
            """,
        Framework.NUnit => $$"""
            using NUnit.Framework;
            using Supermachine;

            public class ImageTests
            {
                private readonly MicroVmFixture _image = new("{{image}}");

                [OneTimeSetUp]
                public Task StartAsync() => _image.InitializeAsync();

                [OneTimeTearDown]
                public Task StopAsync() => _image.DisposeAsync();

                [Test]
                public async Task Answers_through_its_connection_string()
                {
                    Assert.That(_image.Vm.Restored);
                    await Probe.RunAsync(_image.GetConnectionString());
                }
            }
            """,
        _ => $$"""
            using Microsoft.VisualStudio.TestTools.UnitTesting;
            using Supermachine;

            [TestClass]
            public class ImageTests
            {
                private static readonly MicroVmFixture Image = new("{{image}}");

                [ClassInitialize]
                public static Task StartAsync(TestContext _) => Image.InitializeAsync();

                [ClassCleanup]
                public static Task StopAsync() => Image.DisposeAsync();

                [TestMethod]
                public async Task Answers_through_its_connection_string()
                {
                    Assert.IsTrue(Image.Vm.Restored);
                    await Probe.RunAsync(Image.GetConnectionString());
                }
            }
            """,
    };

    /// <summary>PostgreSQL through Npgsql: open the connection string and run a query.</summary>
    public const string PostgresProbe = """
        using Npgsql;

        public static class Probe
        {
            public static async Task RunAsync(string connectionString)
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand("select 40 + 2", connection);
                object? answer = await command.ExecuteScalarAsync();
                if (!Equals(answer, 42))
                {
                    throw new InvalidOperationException($"postgres at {connectionString} answered '{answer}'");
                }
            }
        }
        """;
}
