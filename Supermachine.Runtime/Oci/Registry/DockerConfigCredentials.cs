using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Supermachine.Diagnostics;

namespace Supermachine.Oci.Registry;

/// <summary>A user name and secret for a registry; <see cref="IdentityToken"/> is an OAuth refresh token when set.</summary>
internal sealed record RegistryCredential(string UserName, string Secret, string? IdentityToken = null);

internal interface IRegistryCredentialProvider
{
    /// <summary>Credentials for <paramref name="registry"/> (host[:port]), or null for anonymous.</summary>
    Task<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken);
}

/// <summary>
/// Credentials as the Docker CLI keeps them: <c>$DOCKER_CONFIG/config.json</c> (default
/// <c>~/.docker/config.json</c>), looked up in <c>credHelpers</c>, then <c>credsStore</c>, then
/// <c>auths</c>; helpers run as <c>docker-credential-NAME get</c> with the server on stdin.
/// </summary>
internal sealed class DockerConfigCredentials(string? configPath = null) : IRegistryCredentialProvider
{
    private const string DockerHubKey = "https://index.docker.io/v1/";

    public string ConfigPath { get; } = configPath ?? Path.Combine(
        Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } dir ? dir : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker"),
        "config.json");

    public async Task<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken)
    {
        if (!File.Exists(ConfigPath))
        {
            return null;
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(await File.ReadAllBytesAsync(ConfigPath, cancellationToken).ConfigureAwait(false));
        }
        catch (JsonException ex)
        {
            throw Errors.DockerConfigUnreadable(ConfigPath, ex.Message, cause: ex);
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            string[] keys = registry == "docker.io" ? [DockerHubKey, "docker.io", "index.docker.io", "registry-1.docker.io"] : [registry, "https://" + registry, "http://" + registry];
            if (root.TryGetProperty("credHelpers", out JsonElement helpers) && helpers.ValueKind == JsonValueKind.Object)
            {
                foreach (string key in keys)
                {
                    if (helpers.TryGetProperty(key, out JsonElement helper) && helper.GetString() is { Length: > 0 } name)
                    {
                        return await RunHelperAsync(name, keys[0], cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            if (root.TryGetProperty("credsStore", out JsonElement store) && store.GetString() is { Length: > 0 } storeName)
            {
                RegistryCredential? fromStore = await RunHelperAsync(storeName, keys[0], cancellationToken).ConfigureAwait(false);
                if (fromStore is not null)
                {
                    return fromStore;
                }
            }
            if (root.TryGetProperty("auths", out JsonElement auths) && auths.ValueKind == JsonValueKind.Object)
            {
                foreach (JsonProperty entry in auths.EnumerateObject())
                {
                    if (!keys.Contains(entry.Name.TrimEnd('/'), StringComparer.OrdinalIgnoreCase) && !keys.Contains(entry.Name, StringComparer.OrdinalIgnoreCase))
                    {
                        continue;
                    }
                    JsonElement v = entry.Value;
                    string? identity = v.TryGetProperty("identitytoken", out JsonElement it) ? it.GetString() : null;
                    if (v.TryGetProperty("auth", out JsonElement auth) && auth.GetString() is { Length: > 0 } encoded)
                    {
                        string decoded = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
                        int colon = decoded.IndexOf(':');
                        if (colon > 0)
                        {
                            return new RegistryCredential(decoded[..colon], decoded[(colon + 1)..], identity);
                        }
                    }
                    if (v.TryGetProperty("username", out JsonElement u) && v.TryGetProperty("password", out JsonElement p))
                    {
                        return new RegistryCredential(u.GetString() ?? "", p.GetString() ?? "", identity);
                    }
                }
            }
        }
        return null;
    }

    private static async Task<RegistryCredential?> RunHelperAsync(string helper, string server, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("docker-credential-" + helper, "get")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException();
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw Errors.CredentialHelperFailed(helper, server, "it could not be started: " + ex.Message, cause: ex);
        }
        using (process)
        {
            await process.StandardInput.WriteAsync(server).ConfigureAwait(false);
            process.StandardInput.Close();
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            Task<string> stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            string output = await stdout.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                // The protocol's "not found" is a normal answer: anonymous access.
                string error = (output + await stderr.ConfigureAwait(false)).Trim();
                if (error.Contains("credentials not found", StringComparison.OrdinalIgnoreCase))
                {
                    return null;
                }
                throw Errors.CredentialHelperFailed(helper, server, $"it exited with {process.ExitCode}: {error}");
            }
            using JsonDocument doc = JsonDocument.Parse(output);
            string user = doc.RootElement.GetProperty("Username").GetString() ?? "";
            string secret = doc.RootElement.GetProperty("Secret").GetString() ?? "";
            // A helper's "<token>" user name means Secret is an identity (refresh) token.
            return user == "<token>" ? new RegistryCredential(user, "", secret) : new RegistryCredential(user, secret);
        }
    }
}
