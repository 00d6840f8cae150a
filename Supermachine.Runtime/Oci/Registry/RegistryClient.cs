using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Supermachine.Diagnostics;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;

namespace Supermachine.Oci.Registry;

/// <summary>
/// Registry HTTP API v2, pull side: manifests and blobs, through mirrors first, with the Docker
/// token flow (anonymous or with credentials), Basic auth, per-scope token caching and retries.
/// Every network read (response headers, manifest, blob and token bodies) is bounded by the idle
/// timeout of <see cref="RegistryOptions.NetworkTimeout"/>; a stall is retried like a reset.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly RegistryOptions _options;
    private readonly ConcurrentDictionary<string, (string Header, DateTimeOffset Expires)> _authCache = new();

    public RegistryClient(RegistryOptions? options = null)
    {
        _options = options ?? RegistryOptions.FromEnvironment();
        HttpMessageHandler handler = _options.Handler ?? new SocketsHttpHandler
        {
            // Blob GETs redirect to storage (S3, CDN); HttpClient drops Authorization across the redirect.
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = 10,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = _options.NetworkTimeout < TimeSpan.FromSeconds(30) ? _options.NetworkTimeout : TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        _http = new HttpClient(handler, disposeHandler: _options.Handler is null) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("supermachine", typeof(RegistryClient).Assembly.GetName().Version?.ToString() ?? "0"));
    }

    /// <summary>The base URLs tried for <paramref name="registry"/>: its mirrors, then the registry itself.</summary>
    public IReadOnlyList<Uri> Endpoints(string registry)
    {
        var list = new List<Uri>(_options.Mirrors.GetValueOrDefault(registry) ?? []);
        string host = registry == ImageReference.DockerHub ? "registry-1.docker.io" : registry;
        list.Add(new Uri((_options.IsInsecure(registry) ? "http://" : "https://") + host + "/"));
        return list;
    }

    /// <summary>Fetches the manifest or index <paramref name="reference"/> (tag or digest) of <paramref name="image"/>'s repository.</summary>
    public async Task<ManifestDocument> GetManifestAsync(ImageReference image, string reference, CancellationToken cancellationToken = default)
    {
        return await WithEndpointsAsync(image, endpoint => WithBodyRetriesAsync(image, endpoint, async () =>
        {
            Uri uri = new(endpoint, $"v2/{image.Repository}/manifests/{reference}");
            using HttpResponseMessage response = await SendAsync(image, endpoint, () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, uri);
                request.Headers.Accept.ParseAdd(MediaTypes.ManifestAccept);
                return request;
            }, $"manifest {reference}", cancellationToken).ConfigureAwait(false);
            byte[] content = await ReadBodyAsync(response, 4 << 20, $"reading manifest {reference}", cancellationToken).ConfigureAwait(false)
                ?? throw Diagnostic.Error("SM2005", image.ToString(), $"the manifest is larger than {4 << 20} bytes");
            ManifestDocument doc = ManifestDocument.Parse(content, response.Content.Headers.ContentType?.MediaType, $"{image} from {endpoint.Authority}");
            if (OciDigest.IsValid(reference) && doc.Digest != reference)
            {
                throw Diagnostic.Error("SM2007", reference, $"{image} at {endpoint.Authority}", $"content whose digest is {doc.Digest}");
            }
            return doc;
        }, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens the blob <paramref name="digest"/>; the caller verifies the bytes (the content store does).</summary>
    public async Task<Stream> OpenBlobAsync(ImageReference image, string digest, CancellationToken cancellationToken = default)
    {
        OciDigest.Hex(digest);
        return await WithEndpointsAsync(image, async endpoint =>
        {
            Uri uri = new(endpoint, $"v2/{image.Repository}/blobs/{digest}");
            HttpResponseMessage response = await SendAsync(image, endpoint, () => new HttpRequestMessage(HttpMethod.Get, uri), $"blob {digest}", cancellationToken).ConfigureAwait(false);
            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            // After a redirect the body comes from blob storage: name the host that actually stalls.
            return new IdleTimeoutStream(body, _options.NetworkTimeout, Authority(response, endpoint), $"reading blob {digest}", response);
        }, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// The error a network failure that outlasted its retries becomes: SM1010 for a stall (naming the
    /// host and what was being read), SM1003 for anything else.
    /// </summary>
    public static SupermachineException NetworkFailure(Exception failure, string image, string authority) => failure is NetworkStallException stall
        ? Diagnostic.Error(failure, "SM1010", image, stall.Authority, stall.Timeout.TotalSeconds, stall.What)
        : Diagnostic.Error(failure, "SM1003", image, authority, failure.Message);

    private static string Authority(HttpResponseMessage response, Uri endpoint) => response.RequestMessage?.RequestUri?.Authority ?? endpoint.Authority;

    // A reset or stall while reading a body retries the whole exchange, as one before the headers does.
    private async Task<T> WithBodyRetriesAsync<T>(ImageReference image, Uri endpoint, Func<Task<T>> exchange, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await exchange().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && attempt < _options.MaxAttempts && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(RetryDelay(null, attempt), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
            {
                throw NetworkFailure(ex, image.ToString(), endpoint.Authority);
            }
        }
    }

    // Mirrors first; any failure there falls through to the next endpoint, the origin's failure is the one reported.
    private async Task<T> WithEndpointsAsync<T>(ImageReference image, Func<Uri, Task<T>> action, CancellationToken cancellationToken)
    {
        IReadOnlyList<Uri> endpoints = Endpoints(image.Registry);
        for (int i = 0; ; i++)
        {
            try
            {
                return await action(endpoints[i]).ConfigureAwait(false);
            }
            catch (Exception ex) when (i < endpoints.Count - 1 && !cancellationToken.IsCancellationRequested && ex is SupermachineException or HttpRequestException or IOException)
            {
                // fall back to the next endpoint
            }
        }
    }

    private async Task<HttpResponseMessage> SendAsync(ImageReference image, Uri endpoint, Func<HttpRequestMessage> create, string what, CancellationToken cancellationToken)
    {
        string scope = $"repository:{image.Repository}:pull";
        string cacheKey = endpoint.Authority + "|" + scope;
        bool triedAuth = false;
        while (true)
        {
            HttpResponseMessage response = await SendWithRetriesAsync(() =>
            {
                HttpRequestMessage request = create();
                if (_authCache.TryGetValue(cacheKey, out var cached) && cached.Expires > DateTimeOffset.UtcNow)
                {
                    request.Headers.TryAddWithoutValidation("Authorization", cached.Header);
                }
                return request;
            }, image, endpoint, what, cancellationToken).ConfigureAwait(false);

            if (response.StatusCode == HttpStatusCode.Unauthorized && !triedAuth)
            {
                triedAuth = true;
                AuthenticationHeaderValue? challenge = response.Headers.WwwAuthenticate.FirstOrDefault();
                response.Dispose();
                _authCache[cacheKey] = await AuthenticateAsync(image, endpoint, challenge, scope, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (response.IsSuccessStatusCode)
            {
                return response;
            }
            using (response)
            {
                string body = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
                throw response.StatusCode switch
                {
                    HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => Diagnostic.Error("SM1002", image, endpoint.Authority, $"{(int)response.StatusCode} {body}"),
                    HttpStatusCode.NotFound => Diagnostic.Error("SM1001", image, what, endpoint.Authority),
                    _ => Diagnostic.Error("SM1003", image, endpoint.Authority, $"HTTP {(int)response.StatusCode} for {what}: {body}"),
                };
            }
        }
    }

    private async Task<HttpResponseMessage> SendWithRetriesAsync(Func<HttpRequestMessage> create, ImageReference image, Uri endpoint, string what, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            HttpResponseMessage? response = null;
            Exception? failure = null;
            try
            {
                using HttpRequestMessage request = create();
                response = await IdleTimeoutStream.RunAsync(
                    ct => _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct),
                    _options.NetworkTimeout, endpoint.Authority, "waiting for the answer to the request for " + what, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                failure = ex;
            }
            catch (IOException ex)
            {
                failure = ex;
            }
            bool transient = failure is not null || response!.StatusCode == HttpStatusCode.TooManyRequests || (int)response.StatusCode >= 500;
            if (!transient)
            {
                return response!;
            }
            if (attempt >= _options.MaxAttempts)
            {
                if (response is not null)
                {
                    return response;
                }
                throw NetworkFailure(failure!, image.ToString(), endpoint.Authority);
            }
            TimeSpan delay = RetryDelay(response, attempt);
            response?.Dispose();
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    private TimeSpan RetryDelay(HttpResponseMessage? response, int attempt)
    {
        TimeSpan? server = response?.Headers.RetryAfter switch
        {
            { Delta: TimeSpan d } => d,
            { Date: DateTimeOffset at } => at - DateTimeOffset.UtcNow,
            _ => null,
        };
        if (server is { } s && s >= TimeSpan.Zero)
        {
            return s < _options.RetryMaxDelay ? s : _options.RetryMaxDelay;
        }
        double ms = _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1) * (0.8 + Random.Shared.NextDouble() * 0.4);
        return TimeSpan.FromMilliseconds(Math.Min(ms, _options.RetryMaxDelay.TotalMilliseconds));
    }

    // Docker's flow: Bearer challenges send us to a token realm (with Basic credentials if we have
    // them, anonymously otherwise); Basic challenges take the credentials directly.
    private async Task<(string Header, DateTimeOffset Expires)> AuthenticateAsync(ImageReference image, Uri endpoint, AuthenticationHeaderValue? challenge, string scope, CancellationToken cancellationToken)
    {
        RegistryCredential? credential = await _options.Credentials.GetAsync(endpoint.Authority == Endpoints(image.Registry)[^1].Authority ? image.Registry : endpoint.Authority, cancellationToken).ConfigureAwait(false);
        if (challenge is null)
        {
            throw Diagnostic.Error("SM1002", image, endpoint.Authority, "401 without a WWW-Authenticate challenge");
        }
        if (challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            if (credential is null)
            {
                throw Diagnostic.Error("SM1002", image, endpoint.Authority, "the registry wants Basic credentials and none are configured");
            }
            return ("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(credential.UserName + ":" + credential.Secret)), DateTimeOffset.MaxValue);
        }
        if (!challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            throw Diagnostic.Error("SM1002", image, endpoint.Authority, $"unsupported authentication scheme '{challenge.Scheme}'");
        }
        Dictionary<string, string> parameters = ParseChallenge(challenge.Parameter ?? "");
        if (!parameters.TryGetValue("realm", out string? realm) || !Uri.TryCreate(realm, UriKind.Absolute, out Uri? realmUri))
        {
            throw Diagnostic.Error("SM1002", image, endpoint.Authority, "the Bearer challenge has no valid realm");
        }
        var query = new StringBuilder();
        if (parameters.TryGetValue("service", out string? service))
        {
            query.Append("service=").Append(Uri.EscapeDataString(service));
        }
        query.Append(query.Length > 0 ? "&" : "").Append("scope=").Append(Uri.EscapeDataString(parameters.GetValueOrDefault("scope") ?? scope));
        var tokenUri = new UriBuilder(realmUri) { Query = (realmUri.Query.TrimStart('?') + (realmUri.Query.Length > 1 ? "&" : "") + query).TrimStart('&') }.Uri;

        byte[] answer = await WithBodyRetriesAsync(image, realmUri, async () =>
        {
            using HttpResponseMessage response = await SendWithRetriesAsync(() =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, tokenUri);
                if (credential is not null)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credential.UserName + ":" + credential.Secret)));
                }
                return request;
            }, image, realmUri, "a token", cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw Diagnostic.Error("SM1002", image, realmUri.Authority, $"the token service answered {(int)response.StatusCode} {await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false)}");
            }
            return await ReadBodyAsync(response, 1 << 20, "reading a token", cancellationToken).ConfigureAwait(false)
                ?? throw Diagnostic.Error("SM1002", image, realmUri.Authority, "the token service's answer is larger than 1 MiB");
        }, cancellationToken).ConfigureAwait(false);
        using JsonDocument doc = ParseTokenAnswer(answer, image, realmUri);
        string? token = doc.RootElement.TryGetProperty("token", out JsonElement t) && t.ValueKind == JsonValueKind.String ? t.GetString()
            : doc.RootElement.TryGetProperty("access_token", out JsonElement at) && at.ValueKind == JsonValueKind.String ? at.GetString() : null;
        if (string.IsNullOrEmpty(token))
        {
            throw Diagnostic.Error("SM1002", image, realmUri.Authority, "the token service returned no token");
        }
        int expiresIn = doc.RootElement.TryGetProperty("expires_in", out JsonElement e) && e.TryGetInt32(out int s) && s > 0 ? s : 60;
        // Renew a little early so a long pull never sends a token that expires in flight.
        return ("Bearer " + token, DateTimeOffset.UtcNow.AddSeconds(Math.Max(1, expiresIn - 10)));
    }

    private static JsonDocument ParseTokenAnswer(byte[] answer, ImageReference image, Uri realm)
    {
        try
        {
            JsonDocument doc = JsonDocument.Parse(answer);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                return doc;
            }
            doc.Dispose();
        }
        catch (JsonException)
        {
        }
        throw Diagnostic.Error("SM1002", image, realm.Authority, "the token service's answer is not a JSON object");
    }

    internal static Dictionary<string, string> ParseChallenge(string parameter)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int i = 0;
        while (i < parameter.Length)
        {
            while (i < parameter.Length && (parameter[i] == ',' || char.IsWhiteSpace(parameter[i])))
            {
                i++;
            }
            int eq = parameter.IndexOf('=', i);
            if (eq < 0)
            {
                break;
            }
            string key = parameter[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < parameter.Length && parameter[i] == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (i < parameter.Length && parameter[i] != '"')
                {
                    if (parameter[i] == '\\' && i + 1 < parameter.Length)
                    {
                        i++;
                    }
                    sb.Append(parameter[i++]);
                }
                i++;
                value = sb.ToString();
            }
            else
            {
                int end = parameter.IndexOf(',', i);
                value = (end < 0 ? parameter[i..] : parameter[i..end]).Trim();
                i = end < 0 ? parameter.Length : end;
            }
            result[key] = value;
        }
        return result;
    }

    /// <summary>The body of <paramref name="response"/> under the idle timeout, or null when it is larger than <paramref name="limit"/>.</summary>
    private async Task<byte[]?> ReadBodyAsync(HttpResponseMessage response, int limit, string what, CancellationToken cancellationToken)
    {
        await using Stream stream = new IdleTimeoutStream(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), _options.NetworkTimeout, Authority(response, response.RequestMessage!.RequestUri!), what);
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[81920];
        int n;
        while ((n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > limit)
            {
                return null;
            }
        }
        return buffer.ToArray();
    }

    private async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            byte[]? body = await ReadBodyAsync(response, 64 << 10, "reading an error answer", cancellationToken).ConfigureAwait(false);
            string text = body is null ? "(a long error body)" : Encoding.UTF8.GetString(body);
            return text.Length > 300 ? text[..300] : text.Trim();
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return "";
        }
    }
}
