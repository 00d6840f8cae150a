using Supermachine.Bake;
using Supermachine.Tests.Oci;

namespace Supermachine.Tests.MicroVms;

/// <summary>
/// The fixture redis image (Debian's redis-server in three layers) baked once for the tests that
/// share it: pulled from the fixture OCI layout, flattened into our squashfs, booted under the
/// real engine, snapshotted with port 6379 listening.
/// </summary>
public sealed class BakedRedis : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("sm-baked-").FullName;

    public MicroVmImage Image { get; private set; } = null!;

    public static string Reference => $"oci-layout:{OciTestFixtures.Layout}:redis";

    public async Task InitializeAsync()
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(Reference, k => k switch { "Name" => "redis", "Port" => "6379", _ => null });
        Image = new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(Root, "redis"), new BakeOptions
        {
            CacheDirectory = Path.Combine(Root, "cache"),
        }));
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class BakedRedisCollection : ICollectionFixture<BakedRedis>
{
    public const string Name = "baked redis";
}
