using Supermachine.Bake;

namespace Supermachine.Tests.Bake;

public class BakeFingerprintTests
{
    private static BakeInputs Inputs(string env = "A=1", int memory = 256, string kernel = "sha256:k") =>
        SampleBakeInputs.For(MicroVmImageRequest.FromMetadata("redis:7", k => k switch { "Env" => env, "Port" => "6379", _ => null }), memory, kernel);

    [Fact]
    public void Same_inputs_give_the_same_fingerprint()
    {
        Assert.Equal(BakeFingerprint.Compute(Inputs()), BakeFingerprint.Compute(Inputs()));
        Assert.Matches("^sha256:[0-9a-f]{64}$", BakeFingerprint.Compute(Inputs()));
    }

    [Fact]
    public void Every_input_that_changes_the_result_changes_the_fingerprint()
    {
        string baseline = BakeFingerprint.Compute(Inputs());
        string[] changed =
        [
            BakeFingerprint.Compute(Inputs(env: "A=2")),
            BakeFingerprint.Compute(Inputs(memory: 512)),
            BakeFingerprint.Compute(Inputs(kernel: "sha256:other")),
            BakeFingerprint.Compute(Inputs() with { ImageDigest = "sha256:" + new string('2', 64) }),
            BakeFingerprint.Compute(Inputs() with { EngineVersion = "8.0.0" }),
            BakeFingerprint.Compute(Inputs() with { Accelerator = "kvm" }),
            BakeFingerprint.Compute(Inputs() with { Request = Inputs().Request with { Network = "none" } }),
            BakeFingerprint.Compute(Inputs() with { DiskMiB = 16384 }),
            BakeFingerprint.Compute(Inputs() with { GuestArchitecture = "arm64" }),
        ];
        Assert.All(changed, f => Assert.NotEqual(baseline, f));
        Assert.Equal(changed.Length, changed.Distinct().Count());
    }

    [Fact]
    public void The_artifact_name_is_not_an_input()
    {
        // Renaming an item must reuse the cached bake, not redo it.
        BakeInputs renamed = Inputs() with { Request = Inputs().Request with { Name = "cache" } };
        Assert.Equal(BakeFingerprint.Compute(Inputs()), BakeFingerprint.Compute(renamed));
    }

    [Fact]
    public void The_build_network_and_a_private_networks_name_are_not_in_the_fingerprint_and_bad_network_values_are_SM2303()
    {
        Assert.Equal(BakeFingerprint.Compute(Inputs()), BakeFingerprint.Compute(Inputs() with { Request = Inputs().Request with { BuildNetwork = "none" } }));
        // Every NAT snapshot has the private network's NIC: joining one while baking keeps the fingerprint.
        Assert.Equal(BakeFingerprint.Compute(Inputs()), BakeFingerprint.Compute(Inputs() with { Request = Inputs().Request with { Network = "backend", Aliases = ["db"] } }));
        MicroVmImageRequest none = MicroVmImageRequest.FromMetadata("redis:7", k => k is "Network" or "BuildNetwork" ? "None" : null);
        Assert.Equal(("none", "none"), (none.Network, none.BuildNetwork));
        MicroVmImageRequest named = MicroVmImageRequest.FromMetadata("redis:7", k => k switch { "Network" => "backend", "Aliases" => "db; cache", _ => null });
        Assert.Equal("backend", named.Network);
        Assert.Equal(["db", "cache"], named.Aliases);
        var e = Assert.Throws<SupermachineException>(() => MicroVmImageRequest.FromMetadata("redis:7", k => k == "Network" ? "no/slash" : null));
        Assert.Equal("SM2303", e.Code);
        Assert.Contains("no/slash", e.Message);
        var build = Assert.Throws<SupermachineException>(() => MicroVmImageRequest.FromMetadata("redis:7", k => k == "BuildNetwork" ? "backend" : null));
        Assert.Equal("SM2303", build.Code);
    }
}
