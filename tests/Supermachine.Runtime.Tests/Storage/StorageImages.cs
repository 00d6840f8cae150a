using Supermachine.Bake;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;

namespace Supermachine.Tests.Storage;

/// <summary>
/// The fixture redis image baked twice for the storage tests, at the 256 MiB memory default: once
/// as it is ("plain"), and once whose workload first writes 200 MiB of random data to the writable
/// layer ("wrote"), so its snapshot's disk holds them.
/// </summary>
public sealed class StorageImages : IAsyncLifetime
{
    /// <summary>What the "wrote" bake leaves in the guest: 200 MiB and their checksum (the workload runs as redis; /var/tmp is writable by all).</summary>
    public const string BakedFile = "/var/tmp/baked";

    public string Root { get; } = Directory.CreateTempSubdirectory("sm-storage-").FullName;

    public MicroVmImage Plain { get; private set; } = null!;

    public MicroVmImage Wrote { get; private set; } = null!;

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
        Plain = await plain;
        Wrote = await wrote;
    }

    private async Task<MicroVmImage> BakeAsync(string reference, string name, string? command)
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(reference, k => k switch
        {
            "Name" => name,
            "Port" => "6379",
            "Command" => command,
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
