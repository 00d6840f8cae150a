using Supermachine.Guest.Storage;
using Supermachine.Diagnostics;
using Supermachine.Guest.Staging;
using Supermachine.Images;

namespace Supermachine.Bake;

/// <summary>
/// One image to bake, as a project or the command line asks for it: the reference (or Dockerfile
/// build) plus the metadata that shape the bake. Validation lives here so the MSBuild task and the
/// command line report the same SM23xx errors.
/// </summary>
internal sealed partial record MicroVmImageRequest
{
    /// <summary>A registry reference, an oci-layout:/oci-archive:/docker-archive: source, or for a Dockerfile build a plain name.</summary>
    public required string Reference { get; init; }

    public required string Name { get; init; }

    /// <summary>Guest port that must listen before the snapshot, and that is forwarded at run time.</summary>
    public int? Port { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    /// <summary>Overrides the image's command (a shell-style string), or null for the image's own.</summary>
    public string? Command { get; init; }

    /// <summary>Replaces the image's ENTRYPOINT (a shell-style string) and, as in Docker, drops its CMD unless <see cref="Command"/> is given.</summary>
    public string? Entrypoint { get; init; }

    /// <summary>Replaces the image's USER: "name", "uid", "name:group" or "uid:gid".</summary>
    public string? User { get; init; }

    /// <summary>Replaces the image's WORKDIR (an absolute guest path).</summary>
    public string? WorkingDir { get; init; }

    /// <summary>The guest's hostname; null is the artifact name made a valid hostname (<see cref="DefaultHostname"/>).</summary>
    public string? Hostname { get; init; }

    /// <summary>Size of the /dev/shm tmpfs; null is Docker's 64 MiB.</summary>
    public int? ShmMiB { get; init; }

    /// <summary>Seconds between the image's STOPSIGNAL and SIGKILL on a graceful stop; null is Docker's 10.</summary>
    public int? StopTimeout { get; init; }

    public int? MemoryMiB { get; init; }

    public int? Vcpus { get; init; }

    /// <summary>Size of the VM's writable disk (sparse); null for the default (8 GiB).</summary>
    public int? DiskMiB { get; init; }

    /// <summary>os/arch[/variant]; null for the host's.</summary>
    public string? Platform { get; init; }

    public string? Dockerfile { get; init; }

    public string? Context { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> BuildArgs { get; init; } = [];

    public string? Target { get; init; }

    /// <summary>
    /// The guest network while baking and in the snapshot: null for a NIC behind the user-mode NAT
    /// (the default), "none" for no NIC, or a private network's name to join while baking (a
    /// warm-up that talks to a peer). None or not is part of the fingerprint (a snapshot restores
    /// only with the device set it was baked with); the name is not.
    /// </summary>
    public string? Network { get; init; }

    /// <summary>The VM's aliases on the private network it joins while baking.</summary>
    public IReadOnlyList<string> Aliases { get; init; } = [];

    /// <summary>The network of a Dockerfile build's RUN steps: null for the NAT, "none" for none. Not in any cache key.</summary>
    public string? BuildNetwork { get; init; }

    /// <summary>
    /// Host ports the guest may reach as host.supermachine.internal:P while it is baked (readiness,
    /// a warm-up against a host mock). Access, not configuration: not in the fingerprint.
    /// </summary>
    public IReadOnlyList<int> HostPorts { get; init; } = [];

    /// <summary>The network mode without a NIC; any other name is a private network, beside the NAT.</summary>
    public const string NoNetwork = "none";

    // Readiness, warmup, files in, kernel arguments (issue #19; parsed in MicroVmImageRequest.Readiness.cs).

    /// <summary>A regular expression a workload log line must match (WaitForLog), <see cref="WaitForLogTimes"/> times.</summary>
    public string? WaitForLog { get; init; }

    public int? WaitForLogTimes { get; init; }

    /// <summary>PORT/PATH a GET must answer with 2xx (WaitForHttp).</summary>
    public string? WaitForHttp { get; init; }

    /// <summary>A shell command that must exit 0 in the guest (WaitForCommand).</summary>
    public string? WaitForCommand { get; init; }

    /// <summary>A shell command run after readiness and before the snapshot (Warmup).</summary>
    public string? Warmup { get; init; }

    /// <summary>A label of the warmup's state; changing it re-bakes (WarmupTag).</summary>
    public string? WarmupTag { get; init; }

    /// <summary>Host files put into the guest before the workload starts (--file, MicroVmFile, Files).</summary>
    public IReadOnlyList<GuestFile> Files { get; init; } = [];

    /// <summary>Extra kernel command-line arguments (KernelArgs).</summary>
    public string? KernelArgs { get; init; }

    /// <summary>Bake-time volumes (-v NAME:/path on bake and build, Volumes): part of the snapshot, reset on each restore.</summary>
    public IReadOnlyList<StorageSpec> Volumes { get; init; } = [];

    /// <summary>Host directories (Mounts) mounted at every start of the image, never part of its snapshot.</summary>
    public IReadOnlyList<StorageSpec> Mounts { get; init; } = [];

    /// <summary>The image profile whose defaults filled in what the item left out (ImageProfiles), or null.</summary>
    public string? Profile { get; init; }

    /// <summary>The client connection string with {host}, {port} and {env:NAME} placeholders (ConnectionString, else the profile's).</summary>
    public string? ConnectionFormat { get; init; }

    /// <summary>Builds a request from item-style metadata (strings as MSBuild gives them), validating each.</summary>
    public static MicroVmImageRequest FromMetadata(string reference, Func<string, string?> metadata)
    {
        ImageProfile? profile = ProfileFor(reference, metadata);
        if (profile is not null)
        {
            metadata = WithProfileDefaults(reference, profile, metadata);
        }
        string? explicitName = Blank(metadata("Name"));
        string name = explicitName ?? ArtifactName.FromReference(reference);
        if (!ArtifactName.IsValid(name))
        {
            throw Errors.InvalidImageName(reference, name);
        }
        return new MicroVmImageRequest
        {
            Reference = reference,
            Name = name,
            Port = Integer(reference, "Port", metadata("Port"), 1, 65535),
            Environment = Pairs(reference, metadata("Env"), "Env"),
            Command = Blank(metadata("Command")),
            Entrypoint = Blank(metadata("Entrypoint")),
            User = UserSpec(reference, metadata("User")),
            WorkingDir = AbsolutePath(reference, "WorkingDir", metadata("WorkingDir")),
            Hostname = HostnameValue(reference, metadata("Hostname")),
            ShmMiB = Integer(reference, "ShmMiB", metadata("ShmMiB"), 1, 1024 * 1024),
            StopTimeout = Integer(reference, "StopTimeout", metadata("StopTimeout"), 0, 3600),
            MemoryMiB = Integer(reference, "MemoryMiB", metadata("MemoryMiB"), 64, 1024 * 1024),
            Vcpus = Integer(reference, "Vcpus", metadata("Vcpus"), 1, 64),
            DiskMiB = Integer(reference, "DiskMiB", metadata("DiskMiB"), 64, 16 * 1024 * 1024),
            Platform = Blank(metadata("Platform")),
            Dockerfile = Blank(metadata("Dockerfile")),
            Context = Blank(metadata("Context")),
            BuildArgs = Pairs(reference, metadata("BuildArgs"), "BuildArgs"),
            Target = Blank(metadata("BuildTarget")),
            Network = NetworkMode(reference, "Network", metadata("Network")),
            Aliases = (metadata("Aliases") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            BuildNetwork = NetworkMode(reference, "BuildNetwork", metadata("BuildNetwork"), named: false),
            HostPorts = PortList(reference, "HostPorts", metadata("HostPorts")),
            Volumes = StorageSpec.ParseList(reference, [metadata("Volumes") ?? ""], StorageKind.Volume, "Volumes"),
            Mounts = StorageSpec.ParseList(reference, [metadata("Mounts") ?? ""], StorageKind.HostDirectory, "Mounts"),
            Profile = profile?.Name,
            ConnectionFormat = Blank(metadata("ConnectionString")),
        }.WithReadinessMetadata(metadata);
    }

    /// <summary>
    /// The request with its Dockerfile and Context as absolute paths: relative ones are taken from
    /// <paramref name="baseDirectory"/> (the project's directory, or the command line's working
    /// directory), and a missing Context is the Dockerfile's directory.
    /// </summary>
    public MicroVmImageRequest WithFullPaths(string baseDirectory) =>
        (Files.Count == 0 ? this : this with { Files = StagedFileSpec.WithFullPaths(Reference, Files, baseDirectory) }).WithFullBuildPaths(baseDirectory);

    private MicroVmImageRequest WithFullBuildPaths(string baseDirectory)
    {
        if (Dockerfile is null)
        {
            return Context is null ? this : throw Errors.InvalidImageMetadata(Reference, "Context", Context, "used together with Dockerfile (Context is the build context of a Dockerfile)");
        }
        string dockerfile = Path.GetFullPath(Dockerfile, baseDirectory);
        return this with
        {
            Dockerfile = dockerfile,
            Context = Path.GetFullPath(Context ?? Path.GetDirectoryName(dockerfile)!, baseDirectory),
        };
    }

    /// <summary>Validates a network metadata value: blank (the NAT) or "none" (SM2303 otherwise).</summary>
    public static string? NetworkMode(string reference, string what, string? value, bool named = true)
    {
        string? network = Blank(value);
        if (network is null || string.Equals(network, NoNetwork, StringComparison.OrdinalIgnoreCase))
        {
            return network?.ToLowerInvariant();
        }
        return named && Vmm.Network.PrivateNetwork.IsValidName(network)
            ? network
            : throw Errors.InvalidImageMetadata(reference, what, network, named
                ? "\"none\" or a private network's name (a letter or digit, then letters, digits, '.', '_', '-')"
                : "\"none\" (leave it out for the default NAT network)");
    }

    /// <summary>Parses "8080;9000" (SM2303 for anything but ports 1..65535).</summary>
    public static IReadOnlyList<int> PortList(string reference, string what, string? text) =>
        (text ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => Integer(reference, what, p, 1, 65535)!.Value).Distinct().ToList();

    /// <summary>Throws SM2301 when two requests would write the same artifact folder.</summary>
    public static void EnsureUniqueNames(IEnumerable<MicroVmImageRequest> requests)
    {
        var seen = new Dictionary<string, MicroVmImageRequest>(StringComparer.OrdinalIgnoreCase);
        foreach (MicroVmImageRequest request in requests)
        {
            if (seen.TryGetValue(request.Name, out MicroVmImageRequest? first))
            {
                throw Errors.DuplicateImageName(first.Reference, request.Reference, request.Name);
            }
            seen[request.Name] = request;
        }
    }

    /// <summary>The artifact name as a hostname: lower case, one label, every other character a '-' (at most 63).</summary>
    public static string DefaultHostname(string name)
    {
        var chars = name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray();
        string label = new string(chars).Trim('-');
        label = label.Length > 63 ? label[..63].TrimEnd('-') : label;
        return label.Length == 0 ? "supermachine" : label;
    }

    /// <summary>RFC 1123: dot-separated labels of letters, digits and inner '-', at most 63 each and 64 in all (Linux's limit).</summary>
    public static bool IsValidHostname(string name) =>
        name.Length is > 0 and <= 64
        && name.Split('.').All(label => label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-' && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));

    private static string? HostnameValue(string reference, string? text) =>
        Blank(text) is not { } value ? null
        : IsValidHostname(value) ? value
        : throw Errors.InvalidImageMetadata(reference, "Hostname", value, "a hostname (letters, digits and '-' in dot-separated labels, at most 64 characters)");

    private static string? UserSpec(string reference, string? text)
    {
        if (Blank(text) is not { } value)
        {
            return null;
        }
        string[] parts = value.Split(':');
        return parts.Length <= 2 && parts.All(p => p.Length > 0 && p.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            ? value
            : throw Errors.InvalidImageMetadata(reference, "User", value, "a user as 'name', 'uid', 'name:group' or 'uid:gid'");
    }

    private static string? AbsolutePath(string reference, string what, string? text) =>
        Blank(text) is not { } value ? null
        : value.StartsWith('/') && !value.Contains('\0') ? value
        : throw Errors.InvalidImageMetadata(reference, what, value, "an absolute guest path (starting with '/')");

    internal static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    internal static int? Integer(string reference, string what, string? text, int min, int max)
    {
        if (Blank(text) is not { } value)
        {
            return null;
        }
        if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) || n < min || n > max)
        {
            throw Errors.InvalidImageMetadata(reference, what, value, $"a whole number from {min} to {max}");
        }
        return n;
    }

    private static IReadOnlyList<KeyValuePair<string, string>> Pairs(string reference, string? text, string metadataName)
    {
        if (Blank(text) is not { } value)
        {
            return [];
        }
        var pairs = new List<KeyValuePair<string, string>>();
        foreach (string entry in MetadataList.Split(value))
        {
            int eq = entry.IndexOf('=');
            if (eq <= 0)
            {
                throw Errors.InvalidPairEntry(reference, metadataName, entry);
            }
            pairs.Add(new(entry[..eq], entry[(eq + 1)..]));
        }
        return pairs;
    }
}
