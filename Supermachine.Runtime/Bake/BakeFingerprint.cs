using System.Security.Cryptography;
using System.Text;
using Supermachine.Images;

namespace Supermachine.Bake;

/// <summary>
/// The hash of every input that changes a bake's result. Two bakes with the same fingerprint are
/// interchangeable, so the shared cache and CI caches key on it. Anything added here must be
/// something that changes the bytes of the artifact or how it restores; nothing that merely
/// describes the build (paths, time, machine name) belongs in it, or caches stop hitting.
/// </summary>
internal static class BakeFingerprint
{
    /// <summary>Bump when the bake pipeline changes its output for the same inputs.</summary>
    public const int PipelineVersion = 1;

    public static string Compute(BakeInputs inputs)
    {
        var text = new StringBuilder();
        void Line(string key, string? value) => text.Append(key).Append('=').Append(value ?? "").Append('\n');

        Line("format", SnapshotManifest.CurrentFormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line("pipeline", PipelineVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line("image", inputs.ImageDigest);
        Line("platform", inputs.Platform);
        // The guest's instruction set picks the kernel, the machine and the CPU a snapshot holds.
        Line("guest", inputs.GuestArchitecture);
        Line("port", inputs.Request.Port?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line("command", inputs.Request.Command);
        Line("entrypoint", inputs.Request.Entrypoint);
        Line("user", inputs.Request.User);
        Line("workdir", inputs.Request.WorkingDir);
        Line("hostname", inputs.Request.Hostname);
        Line("shm", inputs.Request.ShmMiB?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line("stop-timeout", inputs.Request.StopTimeout?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line("memory", inputs.MemoryMiB.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Line("vcpus", inputs.Vcpus.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // The NICs are part of the snapshot's device set: none and NAT snapshots are not
        // interchangeable. A private network's name is not: every NAT snapshot has its second NIC.
        Line("network", inputs.Request.Network == MicroVmImageRequest.NoNetwork ? MicroVmImageRequest.NoNetwork : "nat");
        Line("disk", inputs.DiskMiB.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // Empty slots for run-time volumes and mounts are devices too: a snapshot without them takes none.
        Line("hotplug-slots", Vmm.VmMachineSpec.DefaultHotplugSlots.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (Guest.Storage.StorageSpec volume in inputs.Request.Volumes)
        {
            Line("volume", volume.ToString());
        }
        foreach (Guest.Storage.StorageSpec mount in inputs.Request.Mounts)
        {
            Line("mount", mount.ToString());
        }
        // Order matters for the environment (later wins), so it is kept as given.
        foreach (var (key, value) in inputs.Request.Environment)
        {
            Line("env", key + "=" + value);
        }
        // Readiness, warmup, files in and kernel arguments change what the snapshot holds (issue #19).
        // Each line is written only when set: an image that uses none of them hashes as it would without them.
        void Optional(string key, string? value)
        {
            if (value is not null)
            {
                Line(key, value);
            }
        }
        Optional("wait.log", inputs.Request.WaitForLog);
        Optional("wait.log.times", inputs.Request.WaitForLogTimes?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Optional("wait.http", inputs.Request.WaitForHttp);
        Optional("wait.cmd", inputs.Request.WaitForCommand);
        Optional("warmup", inputs.Request.Warmup);
        Optional("warmup.tag", inputs.Request.WarmupTag);
        Optional("kernel.args", inputs.Request.KernelArgs);
        // The connection string is written into the manifest, so a cached bake must carry the same one.
        Optional("profile", inputs.Request.Profile);
        Optional("connection", inputs.Request.ConnectionFormat);
        foreach (Guest.Staging.GuestFile file in inputs.Request.Files)
        {
            Line("file", StagedFileSpec.Identity(file));
        }
        Line("engine", inputs.EngineName + " " + inputs.EngineVersion);
        Line("accelerator", inputs.Accelerator);
        foreach (var (name, hash) in inputs.AssetHashes.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Line("asset." + name, hash);
        }
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}

/// <summary>What <see cref="BakeFingerprint.Compute"/> hashes.</summary>
internal sealed record BakeInputs
{
    public required MicroVmImageRequest Request { get; init; }

    /// <summary>The resolved manifest digest (or the committed rootfs digest of a Dockerfile build).</summary>
    public required string ImageDigest { get; init; }

    public required string Platform { get; init; }

    /// <summary>The guest architecture the image runs as (amd64, arm64).</summary>
    public required string GuestArchitecture { get; init; }

    public required int MemoryMiB { get; init; }

    public required int Vcpus { get; init; }

    /// <summary>The writable disk's size: a snapshot carries the disk, so another size is another bake.</summary>
    public required int DiskMiB { get; init; }

    public required string EngineName { get; init; }

    public required string EngineVersion { get; init; }

    public required string Accelerator { get; init; }

    /// <summary>Hashes of the guest kernel, initramfs and agent by name.</summary>
    public required IReadOnlyDictionary<string, string> AssetHashes { get; init; }
}
