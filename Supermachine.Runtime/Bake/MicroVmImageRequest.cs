using Supermachine.Diagnostics;
using Supermachine.Images;

namespace Supermachine.Bake;

/// <summary>
/// One image to bake, as a project or the command line asks for it: the reference (or Dockerfile
/// build) plus the metadata that shape the bake. Validation lives here so the MSBuild task and the
/// command line report the same SM23xx errors.
/// </summary>
internal sealed record MicroVmImageRequest
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

    /// <summary>os/arch[/variant]; null for the host's.</summary>
    public string? Platform { get; init; }

    public string? Dockerfile { get; init; }

    public string? Context { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> BuildArgs { get; init; } = [];

    public string? Target { get; init; }

    /// <summary>Builds a request from item-style metadata (strings as MSBuild gives them), validating each.</summary>
    public static MicroVmImageRequest FromMetadata(string reference, Func<string, string?> metadata)
    {
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
            Platform = Blank(metadata("Platform")),
            Dockerfile = Blank(metadata("Dockerfile")),
            Context = Blank(metadata("Context")),
            BuildArgs = Pairs(reference, metadata("BuildArgs"), "BuildArgs"),
            Target = Blank(metadata("BuildTarget")),
        };
    }

    /// <summary>
    /// The request with its Dockerfile and Context as absolute paths: relative ones are taken from
    /// <paramref name="baseDirectory"/> (the project's directory, or the command line's working
    /// directory), and a missing Context is the Dockerfile's directory.
    /// </summary>
    public MicroVmImageRequest WithFullPaths(string baseDirectory)
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

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static int? Integer(string reference, string what, string? text, int min, int max)
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
        foreach (string entry in value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
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
