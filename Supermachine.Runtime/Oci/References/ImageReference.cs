using System.Text.RegularExpressions;
using Supermachine.Diagnostics;

namespace Supermachine.Oci.References;

/// <summary>
/// A registry image reference in its normal form: <c>redis:7</c> is
/// <c>docker.io/library/redis:7</c>, the way the Docker CLI and containerd read it.
/// </summary>
internal sealed partial record ImageReference
{
    /// <summary>The registry host name as written by users (<c>docker.io</c>, <c>ghcr.io</c>, <c>127.0.0.1:5000</c>).</summary>
    public required string Registry { get; init; }

    /// <summary>The repository path (<c>library/redis</c>).</summary>
    public required string Repository { get; init; }

    /// <summary>The tag, or null when only a digest was given.</summary>
    public string? Tag { get; init; }

    /// <summary>The manifest digest (<c>sha256:…</c>), or null.</summary>
    public string? Digest { get; init; }

    public const string DockerHub = "docker.io";

    /// <summary>What the registry is asked for: the digest when there is one (it pins the content), else the tag.</summary>
    public string ManifestReference => Digest ?? Tag ?? "latest";

    /// <summary>The same repository pinned to <paramref name="digest"/>, keeping the tag for display.</summary>
    public ImageReference WithDigest(string digest) => this with { Digest = digest };

    public static ImageReference Parse(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (!TryParse(reference, out ImageReference? parsed, out string? problem))
        {
            throw Errors.InvalidImageReference(reference, problem);
        }
        return parsed;
    }

    public static bool TryParse(string reference, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ImageReference? parsed, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        parsed = null;
        if (string.IsNullOrWhiteSpace(reference))
        {
            problem = "it is empty";
            return false;
        }
        if (reference.Length > 4096 || reference.Any(char.IsWhiteSpace))
        {
            problem = "it contains white space or is too long";
            return false;
        }

        string rest = reference;
        string? digest = null;
        int at = rest.IndexOf('@');
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (!OciDigest.IsValid(digest))
            {
                problem = $"the digest '{digest}' is not of the form sha256:<64 hex digits>";
                return false;
            }
        }

        string registry = DockerHub;
        int slash = rest.IndexOf('/');
        if (slash >= 0)
        {
            string first = rest[..slash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost" || first.Any(char.IsUpper))
            {
                registry = first;
                rest = rest[(slash + 1)..];
                if (!RegistryPattern().IsMatch(registry))
                {
                    problem = $"the registry '{registry}' is not a host name with an optional :port";
                    return false;
                }
            }
        }
        if (registry is "index.docker.io" or "registry-1.docker.io")
        {
            registry = DockerHub;
        }

        string? tag = null;
        int colon = rest.LastIndexOf(':');
        if (colon >= 0 && colon > rest.LastIndexOf('/'))
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!TagPattern().IsMatch(tag))
            {
                problem = $"the tag '{tag}' must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'";
                return false;
            }
        }

        if (rest.Length == 0)
        {
            problem = "the repository name is missing";
            return false;
        }
        foreach (string component in rest.Split('/'))
        {
            if (!ComponentPattern().IsMatch(component))
            {
                problem = component.Any(char.IsUpper)
                    ? $"the repository '{rest}' must be lower case"
                    : $"the repository component '{component}' must be lower-case letters and digits separated by '.', '_', '__' or '-'";
                return false;
            }
        }
        if (registry == DockerHub && !rest.Contains('/'))
        {
            rest = "library/" + rest;
        }
        if (tag is null && digest is null)
        {
            tag = "latest";
        }

        parsed = new ImageReference { Registry = registry, Repository = rest, Tag = tag, Digest = digest };
        problem = null;
        return true;
    }

    /// <summary>The full normal form: <c>docker.io/library/redis:7</c>, <c>host:5000/app@sha256:…</c>, or both tag and digest.</summary>
    public override string ToString() =>
        $"{Registry}/{Repository}{(Tag is null ? "" : ":" + Tag)}{(Digest is null ? "" : "@" + Digest)}";

    [GeneratedRegex(@"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?$|^\[[0-9a-fA-F:]+\](:[0-9]{1,5})?$")]
    private static partial Regex RegistryPattern();

    [GeneratedRegex(@"^[\w][\w.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")]
    private static partial Regex ComponentPattern();
}
