using Supermachine.Guest;
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

    public sealed record WorkloadRecord
    {
        public IReadOnlyList<string> Argv { get; init; } = [];

        public IReadOnlyList<string> Environment { get; init; } = [];

        public string WorkingDirectory { get; init; } = "/";

        public string User { get; init; } = "";

        public int? Port { get; init; }

        /// <summary>The guest's hostname (null: the agent's own, "supermachine").</summary>
        public string? Hostname { get; init; }

        /// <summary>Size of /dev/shm in MiB (null: 64).</summary>
        public int? ShmMiB { get; init; }

        /// <summary>The signal a graceful stop sends the workload: the image's STOPSIGNAL (null: SIGTERM).</summary>
        public int? StopSignal { get; init; }

        /// <summary>Seconds a graceful stop waits after <see cref="StopSignal"/> before it kills (null: 10).</summary>
        public int? StopTimeout { get; init; }

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
    }

    public sealed record MachineRecord
    {
        public int MemoryMiB { get; init; }

        public int Vcpus { get; init; }

        public string Architecture { get; init; } = "";
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
