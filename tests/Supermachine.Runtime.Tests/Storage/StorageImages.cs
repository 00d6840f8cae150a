using Supermachine.Bake;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;

namespace Supermachine.Tests.Storage;

/// <summary>
/// The fixture redis image baked three times for the storage tests, at the 256 MiB memory default: once
/// as it is ("plain"), once whose workload first writes 200 MiB of random data to the writable
/// layer ("wrote"), so its snapshot's disk holds them, and once with a bake-time volume ("volume").
/// </summary>
public sealed class StorageImages : IAsyncLifetime
{
    /// <summary>The test collection that shares one set of these bakes.</summary>
    public const string Collection = "Storage images";

    /// <summary>What the "wrote" bake leaves in the guest: 200 MiB and their checksum (the workload runs as redis; /var/tmp is writable by all).</summary>
    public const string BakedFile = "/var/tmp/baked";

    public string Root { get; } = Directory.CreateTempSubdirectory("sm-storage-").FullName;

    public MicroVmImage Plain { get; private set; } = null!;

    public MicroVmImage Wrote { get; private set; } = null!;

    /// <summary>Where the "volume" bake mounts its bake-time volume "baked", and the file its workload writes there.</summary>
    public const string BakedVolumePath = "/srv/baked";

    /// <summary>Baked with the bake-time volume baked:/srv/baked, holding at-bake when snapshotted.</summary>
    public MicroVmImage Volume { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (TestEnvironment.FindTool("qemu-system-x86_64") is null && !TestEnvironment.IsCI)
        {
            return;
        }
        string reference = $"oci-layout:{OciTestFixtures.Layout}:redis";
        string writeThenServe = $"sh -c 'busybox dd if=/dev/urandom of={BakedFile} bs=1M count=200 2>/dev/null && busybox sha256sum {BakedFile} > {BakedFile}.sha256 && exec redis-server --protected-mode no'";
        Task<MicroVmImage> plain = BakeAsync(reference, "plain", null);
        Task<MicroVmImage> wrote = BakeAsync(reference, "wrote", writeThenServe);
        // Runs as root (the redis user cannot write the volume's root) and writes the volume before it serves.
        Task<MicroVmImage> volume = BakeAsync(reference, "volume", $"sh -c 'echo baked > {BakedVolumePath}/at-bake && exec redis-server --protected-mode no'", $"baked:{BakedVolumePath}");
        Plain = await plain;
        Wrote = await wrote;
        Volume = await volume;
    }

    private async Task<MicroVmImage> BakeAsync(string reference, string name, string? command, string? volumes = null)
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(reference, k => k switch
        {
            "Name" => name,
            "Port" => "6379",
            "Command" => command,
            "Volumes" => volumes,
            "User" => volumes is null ? null : "root",
            _ => null,
        });
        return new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(Root, name), new BakeOptions
        {
            CacheDirectory = Path.Combine(Root, "cache-" + name),
        }));
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>The storage test classes share one <see cref="StorageImages"/>: its bakes are the slow part.</summary>
[CollectionDefinition(StorageImages.Collection)]
public sealed class StorageImagesCollection : ICollectionFixture<StorageImages>;
