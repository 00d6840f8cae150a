using Supermachine.Bake;

namespace Supermachine.Tests.Bake;

/// <summary>Fixed bake inputs around a request, for tests that vary one input and watch the fingerprint.</summary>
internal static class SampleBakeInputs
{
    public static BakeInputs For(MicroVmImageRequest request, int memory = 256, string kernel = "sha256:k") => new()
    {
        Request = request,
        ImageDigest = "sha256:" + new string('1', 64),
        Platform = "linux/amd64",
        GuestArchitecture = "amd64",
        MemoryMiB = memory,
        Vcpus = 1,
        DiskMiB = 8192,
        EngineName = "qemu",
        EngineVersion = "7.2.0",
        Accelerator = "tcg",
        AssetHashes = new Dictionary<string, string> { ["kernel"] = kernel, ["agent"] = "sha256:a" },
    };

    public static string Fingerprint(MicroVmImageRequest request) => BakeFingerprint.Compute(For(request));
}
