using Supermachine.Bake;
using Supermachine.Tests.Bake;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.MicroVms;

/// <summary>
/// The real bake path with the baked redis fixture's cache: an output is a copy, so a byte flipped
/// in its RAM file leaves the cache intact and the next bake repairs the output from the cache;
/// a byte flipped in the cache itself is found before reuse and re-baked with a warning.
/// </summary>
[Collection(BakedRedisCollection.Name)]
public class BakeCacheIntegrityTests(BakedRedis baked)
{
    private static MicroVmImageRequest Request() =>
        MicroVmImageRequest.FromMetadata(BakedRedis.Reference, k => k switch { "Name" => "redis", "Port" => "6379", _ => null });

    private BakeOptions Options(List<string> warnings) => new() { CacheDirectory = Path.Combine(baked.Root, "cache"), Warning = warnings.Add };


    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_flipped_byte_in_an_output_stays_there_and_the_next_bake_replaces_the_output_from_the_cache()
    {
        var warnings = new List<string>();
        string output = Path.Combine(baked.Root, "flip-output-" + Guid.NewGuid().ToString("N")[..6]);
        MicroVmImage image = await ImageBaker.BakeAsync(Request(), output, Options(warnings));
        string cached = new BakeCache(Path.Combine(baked.Root, "cache")).PathFor(image.Manifest.Fingerprint);

        FakeImages.FlipByte(Path.Combine(output, "snapshot", "ram"), 1 << 20);
        await SnapshotDirectory.VerifyAsync(cached, SnapshotDirectory.Load(cached));

        MicroVmImage repaired = await ImageBaker.BakeAsync(Request(), output, Options(warnings));
        await SnapshotDirectory.VerifyAsync(output, repaired.Manifest);
        Assert.StartsWith("SM4011", Assert.Single(warnings));
        Directory.Delete(output, recursive: true);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_flipped_byte_in_the_cached_bake_is_found_removed_and_baked_again_with_SM4010()
    {
        var warnings = new List<string>();
        string cached = new BakeCache(Path.Combine(baked.Root, "cache")).PathFor(baked.Image.Manifest.Fingerprint);
        FakeImages.FlipByte(Path.Combine(cached, "snapshot", "ram"), 1 << 20);

        string output = Path.Combine(baked.Root, "rebaked-" + Guid.NewGuid().ToString("N")[..6]);
        MicroVmImage image = await ImageBaker.BakeAsync(Request(), output, Options(warnings));

        Assert.StartsWith("SM4010", Assert.Single(warnings));
        await SnapshotDirectory.VerifyAsync(cached, SnapshotDirectory.Load(cached));
        await SnapshotDirectory.VerifyAsync(output, image.Manifest);
        // The fixture's own output was never linked to the damaged entry.
        await SnapshotDirectory.VerifyAsync(baked.Image.Directory, baked.Image.Manifest);
        Directory.Delete(output, recursive: true);
    }
}
