using System.Text.Json;
using System.Text.Json.Serialization;

namespace Supermachine.Oci.Manifests;

/// <summary>A content descriptor: what a manifest or index says about a blob.</summary>
internal sealed record Descriptor
{
    [JsonPropertyName("mediaType")] public string? MediaType { get; init; }
    [JsonPropertyName("digest")] public required string Digest { get; init; }
    [JsonPropertyName("size")] public long Size { get; init; }
    [JsonPropertyName("urls")] public IReadOnlyList<string>? Urls { get; init; }
    [JsonPropertyName("annotations")] public IReadOnlyDictionary<string, string>? Annotations { get; init; }
    [JsonPropertyName("platform")] public Platform? Platform { get; init; }
}

/// <summary>OCI image manifest or Docker schema 2 manifest (same shape).</summary>
internal sealed record ImageManifest
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; init; }
    [JsonPropertyName("mediaType")] public string? MediaType { get; init; }
    [JsonPropertyName("config")] public required Descriptor Config { get; init; }
    [JsonPropertyName("layers")] public required IReadOnlyList<Descriptor> Layers { get; init; }
    [JsonPropertyName("annotations")] public IReadOnlyDictionary<string, string>? Annotations { get; init; }
}

/// <summary>OCI image index or Docker manifest list (same shape).</summary>
internal sealed record ImageIndex
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; init; }
    [JsonPropertyName("mediaType")] public string? MediaType { get; init; }
    [JsonPropertyName("manifests")] public required IReadOnlyList<Descriptor> Manifests { get; init; }
    [JsonPropertyName("annotations")] public IReadOnlyDictionary<string, string>? Annotations { get; init; }
}

/// <summary>The image configuration file (the blob the manifest's config descriptor points at).</summary>
internal sealed record ImageConfigFile
{
    [JsonPropertyName("architecture")] public string? Architecture { get; init; }
    [JsonPropertyName("os")] public string? OS { get; init; }
    [JsonPropertyName("variant")] public string? Variant { get; init; }
    [JsonPropertyName("created")] public string? Created { get; init; }
    [JsonPropertyName("config")] public ImageConfig Config { get; init; } = new();
    [JsonPropertyName("rootfs")] public RootFsSection? RootFs { get; init; }

    public sealed record RootFsSection
    {
        [JsonPropertyName("type")] public string? Type { get; init; }
        [JsonPropertyName("diff_ids")] public IReadOnlyList<string>? DiffIds { get; init; }
    }
}

/// <summary>How the image wants to be run: the typed view the guest agent and the bake use.</summary>
internal sealed record ImageConfig
{
    [JsonPropertyName("Env")] public IReadOnlyList<string>? Env { get; init; }
    [JsonPropertyName("Entrypoint")] public IReadOnlyList<string>? Entrypoint { get; init; }
    [JsonPropertyName("Cmd")] public IReadOnlyList<string>? Cmd { get; init; }
    [JsonPropertyName("WorkingDir")] public string? WorkingDir { get; init; }
    [JsonPropertyName("User")] public string? User { get; init; }
    [JsonPropertyName("ExposedPorts")] public IReadOnlyDictionary<string, JsonElement>? ExposedPorts { get; init; }
    [JsonPropertyName("Labels")] public IReadOnlyDictionary<string, string>? Labels { get; init; }
    [JsonPropertyName("StopSignal")] public string? StopSignal { get; init; }
    [JsonPropertyName("Volumes")] public IReadOnlyDictionary<string, JsonElement>? Volumes { get; init; }
    [JsonPropertyName("Healthcheck")] public HealthcheckSection? Healthcheck { get; init; }

    /// <summary>Docker's HEALTHCHECK in the config (durations in nanoseconds; zero means Docker's default).</summary>
    public sealed record HealthcheckSection
    {
        [JsonPropertyName("Test")] public IReadOnlyList<string>? Test { get; init; }
        [JsonPropertyName("Interval")] public long Interval { get; init; }
        [JsonPropertyName("Timeout")] public long Timeout { get; init; }
        [JsonPropertyName("StartPeriod")] public long StartPeriod { get; init; }
        [JsonPropertyName("StartInterval")] public long StartInterval { get; init; }
        [JsonPropertyName("Retries")] public int Retries { get; init; }

        public static TimeSpan FromNanoseconds(long ns) => TimeSpan.FromTicks(ns / 100);

        public static long ToNanoseconds(TimeSpan span) => span.Ticks * 100;
    }

    /// <summary>Env as name → value (later duplicates win, as in Docker).</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, string> Environment =>
        (Env ?? []).Select(e => e.Split('=', 2)).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.Last().Length > 1 ? g.Last()[1] : "");

    /// <summary>Exposed TCP ports as numbers (<c>6379/tcp</c> → 6379); other protocols are left out.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> ExposedTcpPorts =>
        (ExposedPorts?.Keys ?? []).Select(k => k.Split('/')).Where(p => p.Length == 1 || p[1] == "tcp")
            .Select(p => int.TryParse(p[0], out int n) ? n : -1).Where(n => n > 0).Order().ToArray();

    /// <summary>Entrypoint followed by Cmd: the argv a container runtime would start.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Argv => [.. Entrypoint ?? [], .. Cmd ?? []];
}

internal static class OciJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNameCaseInsensitive = false,
    };
}
