using System.Globalization;

namespace Supermachine.Oci.Registry;

/// <summary>How the registry client reaches registries: mirrors, plain-http hosts, retries, credentials.</summary>
public sealed class RegistryOptions
{
    /// <summary>Registry host → mirror base URLs tried before it, in order (<c>docker.io</c> → <c>http://127.0.0.1:5000</c>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Uri>> Mirrors { get; init; } = new Dictionary<string, IReadOnlyList<Uri>>();

    /// <summary>Hosts (with optional :port) spoken to over plain http. localhost, 127.0.0.1 and ::1 always are.</summary>
    public IReadOnlySet<string> InsecureRegistries { get; init; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Attempts per request on 429, 5xx and connection resets.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>First back-off delay; doubles per attempt (with jitter) unless the registry sends Retry-After.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait between attempts, also the cap on a Retry-After.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultNetworkTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Idle timeout of every network read (response headers, each chunk of a manifest, blob or token
    /// answer): a connection that delivers nothing for this long counts as stalled and is retried.
    /// Not a total timeout, so a slow but moving download never fails. <c>SUPERMACHINE_NETWORK_TIMEOUT</c> (seconds).
    /// </summary>
    public TimeSpan NetworkTimeout { get; init; } = DefaultNetworkTimeout;

    public IRegistryCredentialProvider Credentials { get; init; } = new DockerConfigCredentials();

    /// <summary>For tests and embedding: the handler under the client (default: a SocketsHttpHandler following redirects).</summary>
    public HttpMessageHandler? Handler { get; init; }

    /// <summary>Options from <c>SUPERMACHINE_REGISTRY_MIRRORS</c>, <c>SUPERMACHINE_INSECURE_REGISTRIES</c> and <c>SUPERMACHINE_NETWORK_TIMEOUT</c>.</summary>
    public static RegistryOptions FromEnvironment() => new()
    {
        Mirrors = ParseMirrors(Environment.GetEnvironmentVariable("SUPERMACHINE_REGISTRY_MIRRORS")),
        InsecureRegistries = ParseList(Environment.GetEnvironmentVariable("SUPERMACHINE_INSECURE_REGISTRIES")),
        NetworkTimeout = ParseNetworkTimeout(Environment.GetEnvironmentVariable("SUPERMACHINE_NETWORK_TIMEOUT")),
    };

    /// <summary>Seconds (a positive number, fractions allowed, at most a day) as a timeout; unset or blank is the 60 s default, anything else SM2024.</summary>
    public static TimeSpan ParseNetworkTimeout(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return DefaultNetworkTimeout;
        }
        if (double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds > 0 && seconds <= 86400)
        {
            return TimeSpan.FromSeconds(seconds);
        }
        throw Diagnostics.Diagnostic.Error("SM2024", text);
    }

    /// <summary>Parses <c>docker.io=http://127.0.0.1:5000,http://other;ghcr.io=https://m.example</c>.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<Uri>> ParseMirrors(string? text)
    {
        var result = new Dictionary<string, IReadOnlyList<Uri>>(StringComparer.OrdinalIgnoreCase);
        foreach (string pair in (text ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] kv = pair.Split('=', 2, StringSplitOptions.TrimEntries);
            if (kv.Length != 2 || kv[0].Length == 0)
            {
                throw Diagnostics.Diagnostic.Error("SM2010", pair, "SUPERMACHINE_REGISTRY_MIRRORS");
            }
            var uris = new List<Uri>();
            foreach (string u in kv[1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                string withScheme = u.Contains("://", StringComparison.Ordinal) ? u : "https://" + u;
                // A trailing slash keeps a path prefix (http://host/prefix/) when v2/... is resolved against it.
                withScheme = withScheme.EndsWith('/') ? withScheme : withScheme + "/";
                if (!Uri.TryCreate(withScheme, UriKind.Absolute, out Uri? uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
                {
                    throw Diagnostics.Diagnostic.Error("SM2010", pair, "SUPERMACHINE_REGISTRY_MIRRORS");
                }
                uris.Add(uri);
            }
            string host = kv[0] is "index.docker.io" or "registry-1.docker.io" ? "docker.io" : kv[0];
            result[host] = uris;
        }
        return result;
    }

    private static HashSet<string> ParseList(string? text) =>
        new((text ?? "").Split([',', ';', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.OrdinalIgnoreCase);

    internal bool IsInsecure(string hostAndPort)
    {
        string host = hostAndPort.StartsWith('[') ? hostAndPort[..(hostAndPort.IndexOf(']') + 1)] : hostAndPort.Split(':')[0];
        return host is "localhost" or "127.0.0.1" or "[::1]" || InsecureRegistries.Contains(hostAndPort) || InsecureRegistries.Contains(host);
    }
}
