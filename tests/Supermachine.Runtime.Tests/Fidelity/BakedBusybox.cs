using Supermachine.Bake;
using Supermachine.Tests.Oci;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// The fixture busybox image baked once with its defaults (no hostname, shm or user given) and
/// restored once: what every guest gets unless told otherwise. The workload prints its HOSTNAME.
/// </summary>
public sealed class BakedBusybox : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("sm-fidelity-").FullName;

    public MicroVm Vm { get; private set; } = null!;

    public static string Reference => $"oci-layout:{OciTestFixtures.Layout}:busybox";

    public async Task InitializeAsync()
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(Reference, k => k switch
        {
            "Name" => "Fidelity_Box.1",
            "Command" => "sh -c 'echo \"workload-hostname=$HOSTNAME\"; exec sleep 100000'",
            _ => null,
        });
        var image = new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(Root, "box"), new BakeOptions { CacheDirectory = Path.Combine(Root, "cache") }));
        Vm = await MicroVm.StartAsync(image);
    }

    public async Task DisposeAsync()
    {
        await Vm.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}
