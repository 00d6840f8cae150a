using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using Supermachine.Diagnostics;

namespace Supermachine.Oci.Manifests;

/// <summary>An image platform (os/architecture/variant) in OCI's spelling.</summary>
internal sealed record Platform
{
    [JsonPropertyName("architecture")] public required string Architecture { get; init; }
    [JsonPropertyName("os")] public required string OS { get; init; }
    [JsonPropertyName("variant")] public string? Variant { get; init; }
    [JsonPropertyName("os.version")] public string? OSVersion { get; init; }

    /// <summary>Linux on the host's architecture: guests are Linux whatever the host runs.</summary>
    public static Platform Host { get; } = new() { OS = "linux", Architecture = HostArchitecture(), Variant = RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm ? "v7" : null };

    /// <summary>Parses <c>linux/amd64</c>, <c>linux/arm64/v8</c>, or an empty string for the host.</summary>
    public static Platform Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Host;
        }
        string[] parts = text.Trim().Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0))
        {
            throw Errors.InvalidPlatform(text);
        }
        return new Platform { OS = parts[0].ToLowerInvariant(), Architecture = NormalizeArchitecture(parts[1].ToLowerInvariant()), Variant = parts.Length == 3 ? parts[2].ToLowerInvariant() : null };
    }

    /// <summary>True when an image for <paramref name="candidate"/> runs as this platform: os and architecture equal, and the variant equal when this one names one (arm64's v8 is its default).</summary>
    public bool Matches(Platform? candidate)
    {
        if (candidate is null || !string.Equals(candidate.OS, OS, StringComparison.OrdinalIgnoreCase)
            || NormalizeArchitecture(candidate.Architecture) != NormalizeArchitecture(Architecture))
        {
            return false;
        }
        return Variant is null || NormalizeVariant(candidate) == NormalizeVariant(this);
    }

    public override string ToString() => Variant is null ? $"{OS}/{Architecture}" : $"{OS}/{Architecture}/{Variant}";

    private static string? NormalizeVariant(Platform p) => p.Architecture == "arm64" && p.Variant is null ? "v8" : p.Variant;

    private static string NormalizeArchitecture(string arch) => arch switch
    {
        "x86_64" or "x86-64" => "amd64",
        "aarch64" => "arm64",
        _ => arch,
    };

    private static string HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        System.Runtime.InteropServices.Architecture.Arm => "arm",
        System.Runtime.InteropServices.Architecture.X86 => "386",
        System.Runtime.InteropServices.Architecture.S390x => "s390x",
        System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
        System.Runtime.InteropServices.Architecture.RiscV64 => "riscv64",
        System.Runtime.InteropServices.Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };
}
