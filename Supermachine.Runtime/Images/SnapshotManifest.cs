using Supermachine.Guest;
using Supermachine.Guest.Readiness;
using Supermachine.Guest.Staging;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Supermachine;

/// <summary>
/// manifest.json of a baked image directory: what was baked, on which engine, and the size and
/// hash of every file beside it. Every path is relative to the directory, so it can be moved,
/// copied to another machine with the same engine, or restored from a CI cache.
/// </summary>
public sealed record SnapshotManifest
{
    /// <summary>Bumped whenever the layout or the meaning of a field changes; other values are refused.</summary>
    internal const int CurrentFormatVersion = 2;

    internal const string FileName = "manifest.json";

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>The artifact's name (the folder under microvms/).</summary>
    public required string Name { get; init; }

    /// <summary>The reference the image came from, as the user wrote it.</summary>
    public required string Reference { get; init; }

    /// <summary>The manifest digest it resolved to (sha256:...), or for a Dockerfile build the digest of the committed root filesystem.</summary>
    public required string ImageDigest { get; init; }

    /// <summary>The workload as it was started: argv, environment, working directory, user, port.</summary>
    public required WorkloadRecord Workload { get; init; }

    /// <summary>
    /// The guest a cold start boots. What the engine needs to restore the RAM snapshot (engine and
    /// version, accelerator, CPU model) is the engine's own description in the snapshot folder, one
    /// of the files listed here, and only the engine judges it (IVmBackend.FindMismatch).
    /// </summary>
    public required MachineRecord Machine { get; init; }

    /// <summary>Hashes of the guest kernel, initramfs and agent the snapshot was taken with.</summary>
    public required IReadOnlyDictionary<string, string> Assets { get; init; }

    /// <summary>Hash of every input that changes the result; equal fingerprints mean a cached bake can be reused.</summary>
    public required string Fingerprint { get; init; }

    /// <summary>True when the directory holds a RAM snapshot; false for a cold-bootable image only.</summary>
    public bool HasSnapshot { get; init; }

    /// <summary>Every file of the directory but this manifest, with size and sha256.</summary>
    public required IReadOnlyList<FileRecord> Files { get; init; }

    public string CreatedBy { get; init; } = "";

    /// <summary>How a client reaches the workload (an image profile's, or the item's ConnectionString); null when neither gave one.</summary>
    public ConnectionRecord? Connection { get; init; }

    /// <summary>A client connection string, resolved when the image was baked but for the host and port a running VM forwards.</summary>
    public sealed record ConnectionRecord
    {
        /// <summary>The image profile it came from (postgres, redis, ...), or null for an item's own ConnectionString.</summary>
        public string? Profile { get; init; }

        /// <summary>The guest port a client connects to.</summary>
        public int? Port { get; init; }

        /// <summary>The string with its credentials filled in; {host} and {port} stand for the forwarded endpoint.</summary>
        public required string Format { get; init; }
    }

    public sealed record WorkloadRecord
    {
        public IReadOnlyList<string> Argv { get; init; } = [];

        public IReadOnlyList<string> Environment { get; init; } = [];

        public string WorkingDirectory { get; init; } = "/";

        public string User { get; init; } = "";

        public int? Port { get; init; }

        // Readiness, warmup and files in (issue #19): what a cold start repeats exactly as the bake did.

        /// <summary>A regular expression a workload log line must match before the workload is ready.</summary>
        public string? WaitForLog { get; init; }

        /// <summary>How many lines must match <see cref="WaitForLog"/> (the Nth is the ready signal); null is 1.</summary>
        public int? WaitForLogTimes { get; init; }

        /// <summary>PORT/PATH a GET must answer with 2xx.</summary>
        public string? WaitForHttp { get; init; }

        /// <summary>A shell command that must exit 0 in the guest.</summary>
        public string? WaitForCommand { get; init; }

        /// <summary>The image's HEALTHCHECK, the readiness when nothing else is given.</summary>
        public HealthcheckRecord? Healthcheck { get; init; }

        /// <summary>A shell command run once the workload is ready, before the snapshot.</summary>
        public string? Warmup { get; init; }

        /// <summary>What <see cref="Warmup"/> is tagged with; a new tag re-bakes on purpose.</summary>
        public string? WarmupTag { get; init; }

        /// <summary>Host files put into the guest before the workload starts, kept in this directory.</summary>
        public IReadOnlyList<StagedFileRecord> StagedFiles { get; init; } = [];

        /// <summary>The guest's hostname (null: the agent's own, "supermachine").</summary>
        public string? Hostname { get; init; }

        /// <summary>Size of /dev/shm in MiB (null: 64).</summary>
        public int? ShmMiB { get; init; }

        /// <summary>The signal a graceful stop sends the workload: the image's STOPSIGNAL (null: SIGTERM).</summary>
        public int? StopSignal { get; init; }

        /// <summary>Seconds a graceful stop waits after <see cref="StopSignal"/> before it kills (null: 10).</summary>
        public int? StopTimeout { get; init; }

        /// <summary>Bake-time volumes, NAME:/path: fresh disks at a cold boot, carried by the snapshot (null: none).</summary>
        public IReadOnlyList<string>? Volumes { get; init; }

        /// <summary>Host directories, /host:/guest[:ro], mounted at every start and never part of the snapshot (null: none).</summary>
        public IReadOnlyList<string>? Mounts { get; init; }

        /// <summary>The bake-time volumes as the engine attaches them at a cold boot.</summary>
        internal IReadOnlyList<Vmm.VmBakedVolume> BakedVolumes(int sizeMiB) =>
            (Volumes ?? []).Select(v => new Vmm.VmBakedVolume(Guest.Storage.StorageSpec.Parse("manifest", v).Source, sizeMiB)).ToArray();

        /// <summary>What the agent is asked to start.</summary>
        internal WorkloadSpec ToSpec() => new()
        {
            Arguments = Argv,
            Environment = Environment,
            WorkingDirectory = WorkingDirectory,
            User = User.Length == 0 ? null : User,
            Hostname = Hostname,
            ShmMiB = ShmMiB,
        };

        /// <summary>The whole start (files from <paramref name="directory"/>, workload, readiness, warmup) as it was baked.</summary>
        internal WorkloadStart ToStart(string directory) => new()
        {
            Workload = ToSpec(),
            Readiness = new ReadinessSpec
            {
                Port = Port,
                LogPattern = WaitForLog,
                LogTimes = WaitForLogTimes ?? 1,
                Http = WaitForHttp is null ? null : ReadinessText.ParseHttp(WaitForHttp),
                Command = WaitForCommand,
                Healthcheck = Healthcheck is { } h ? new HealthcheckProbe(h.Test, h.Interval, h.Timeout, h.StartPeriod, h.Retries) : null,
            },
            Files = StagedFiles.Select(f => new GuestFile(System.IO.Path.Combine(directory, f.Path), f.GuestPath, f.Mode, f.Owner)).ToArray(),
            Mounts = (Volumes ?? []).Select((text, i) =>
            {
                Guest.Storage.StorageSpec volume = Guest.Storage.StorageSpec.Parse("manifest", text);
                return new Guest.GuestMount(Vmm.VmBakedVolume.Serial(i), "ext4", volume.GuestPath, ReadOnly: false, Fresh: true, $"the volume '{volume.Source}'");
            }).ToArray(),
            Warmup = Warmup,
        };
    }

    /// <summary>An OCI HEALTHCHECK as the image config gives it.</summary>
    public sealed record HealthcheckRecord
    {
        /// <summary>["CMD", argv...] or ["CMD-SHELL", command].</summary>
        public IReadOnlyList<string> Test { get; init; } = [];

        public TimeSpan Interval { get; init; }

        public TimeSpan Timeout { get; init; }

        public TimeSpan StartPeriod { get; init; }

        public int Retries { get; init; }
    }

    /// <summary>A file put into the guest: its content at <see cref="Path"/> in this directory.</summary>
    public sealed record StagedFileRecord
    {
        /// <summary>Relative to the image directory (listed in <see cref="SnapshotManifest.Files"/>, so hashed).</summary>
        public required string Path { get; init; }

        public required string GuestPath { get; init; }

        public int? Mode { get; init; }

        public string? Owner { get; init; }
    }

    public sealed record MachineRecord
    {
        public int MemoryMiB { get; init; }

        public int Vcpus { get; init; }

        /// <summary>The writable disk's size; 0 in manifests from before disks (the default size then).</summary>
        public int DiskMiB { get; init; }

        public string Architecture { get; init; } = "";

        /// <summary>Extra kernel command-line arguments the guest boots with.</summary>
        public string? KernelArguments { get; init; }
    }

    public sealed record FileRecord
    {
        public required string Path { get; init; }

        public required long Size { get; init; }

        public required string Sha256 { get; init; }
    }

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // A manifest is input: "files": null or "name": null is malformed (SM3252), not a later NullReferenceException.
        RespectNullableAnnotations = true,
    };
}
