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
    public void The_build_network_is_not_in_the_fingerprint_and_network_values_other_than_none_are_SM2303()
    {
        Assert.Equal(BakeFingerprint.Compute(Inputs()), BakeFingerprint.Compute(Inputs() with { Request = Inputs().Request with { BuildNetwork = "none" } }));
        MicroVmImageRequest none = MicroVmImageRequest.FromMetadata("redis:7", k => k is "Network" or "BuildNetwork" ? "None" : null);
        Assert.Equal(("none", "none"), (none.Network, none.BuildNetwork));
        var e = Assert.Throws<SupermachineException>(() => MicroVmImageRequest.FromMetadata("redis:7", k => k == "Network" ? "bridge" : null));
        Assert.Equal("SM2303", e.Code);
        Assert.Contains("bridge", e.Message);
    }
}
