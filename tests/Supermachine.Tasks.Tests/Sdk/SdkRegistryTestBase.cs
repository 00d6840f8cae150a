using Supermachine.Tests.Oci;

namespace Supermachine.Tasks.Tests.Sdk;

/// <summary>
/// What every SDK test class that bakes stands on: a registry on 127.0.0.1 holding the fixture
/// images it pushes, its own bake cache and its own NuGet package folder, all gone afterwards.
/// </summary>
public abstract class SdkRegistryTestBase : IAsyncLifetime
{
    protected RegistryServer Registry { get; private set; } = null!;

    protected string Cache { get; } = Directory.CreateTempSubdirectory("sm-sdk-cache-").FullName;

    protected string Packages { get; } = Directory.CreateTempSubdirectory("sm-sdk-packages-").FullName;

    /// <summary>(skopeo source, repository:tag) pairs pushed before the first test, every platform of an index.</summary>
    protected virtual IEnumerable<(string Source, string Target)> Images => [($"oci:{OciTestFixtures.Layout}:redis", "library/redis:7")];

    public async Task InitializeAsync()
    {
        Registry = await RegistryServer.StartAsync(new RegistryAuth.None());
        foreach (var (source, target) in Images)
        {
            Registry.Push(source, target, all: true);
        }
    }

    public async Task DisposeAsync()
    {
        await Registry.DisposeAsync();
        Directory.Delete(Cache, recursive: true);
        Directory.Delete(Packages, recursive: true);
    }
}
