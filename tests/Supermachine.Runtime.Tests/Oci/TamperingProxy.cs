using System.Net;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>
/// An HttpListener on 127.0.0.1 in front of a registry that can alter what it serves: change
/// bytes, truncate, fail with a status, or cut the connection mid-body. Each rule sees the
/// request path and how many times that path was asked for.
/// </summary>
public sealed class TamperingProxy : IAsyncDisposable
{
    private readonly LoopbackHttpServer _server;
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false });
    private readonly string _upstreamBase;
    private readonly Func<Request, Response, Task> _rule;
    private readonly Dictionary<string, int> _counts = [];
    private volatile string? _lastAuthorization;

    public sealed record Request(string Path, int Attempt);

    /// <summary>What the proxy will send; rules change it.</summary>
    public sealed class Response
    {
        public int Status { get; set; }
        public byte[] Body { get; set; } = [];
        public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
        /// <summary>Send this many bytes of the body, then drop the connection.</summary>
        public int? CutAfter { get; set; }
        /// <summary>Send this many bytes, then wait (a hung download) until the client gives up.</summary>
        public int? StallAfter { get; set; }
        /// <summary>Send the body in this many pieces with <see cref="TrickleDelay"/> between them: slow, but moving.</summary>
        public int? TrickleChunks { get; set; }
        public TimeSpan TrickleDelay { get; set; }
    }

    public TamperingProxy(string upstreamHost, Func<Request, Response, Task> rule)
    {
        _upstreamBase = "http://" + upstreamHost;
        _rule = rule;
        _server = new LoopbackHttpServer(HandleAsync);
    }

    public int Port => _server.Port;

    /// <summary>True if a request to the fake blob storage carried an Authorization header.</summary>
    public bool StorageSawAuthorization { get; private set; }

    public string Host => $"127.0.0.1:{Port}";

    private async Task HandleAsync(HttpListenerContext context)
    {
        try
        {
            string path = context.Request.Url!.PathAndQuery;
            int attempt;
            lock (_counts)
            {
                attempt = _counts[path] = _counts.GetValueOrDefault(path) + 1;
            }
            // "/storage/..." stands for blob storage a registry redirects to: served from upstream, and it must get no registry credentials.
            bool storage = path.StartsWith("/storage/", StringComparison.Ordinal);
            if (storage && context.Request.Headers["Authorization"] is not null)
            {
                StorageSawAuthorization = true;
            }
            using var request = new HttpRequestMessage(new HttpMethod(context.Request.HttpMethod), _upstreamBase + (storage ? path["/storage".Length..] : path));
            foreach (string name in new[] { "Accept", "Authorization" })
            {
                if (context.Request.Headers[name] is string value)
                {
                    request.Headers.TryAddWithoutValidation(name, value);
                }
            }
            // Real storage URLs are pre-signed; the fake one borrows the client's last registry credential.
            if (!storage && context.Request.Headers["Authorization"] is string auth)
            {
                _lastAuthorization = auth;
            }
            else if (storage && _lastAuthorization is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", _lastAuthorization);
            }
            using HttpResponseMessage upstream = await _upstream.SendAsync(request);
            var response = new Response { Status = (int)upstream.StatusCode, Body = await upstream.Content.ReadAsByteArrayAsync() };
            foreach (var h in upstream.Headers.Concat(upstream.Content.Headers))
            {
                if (h.Key is "Content-Type" or "Docker-Content-Digest" or "WWW-Authenticate" or "Location")
                {
                    response.Headers[h.Key] = string.Join(",", h.Value);
                }
            }
            await _rule(new Request(path, attempt), response);
            context.Response.StatusCode = response.Status;
            foreach (var (k, v) in response.Headers)
            {
                context.Response.Headers[k] = v;
            }
            context.Response.ContentLength64 = response.Body.Length;
            int send = Math.Min(response.Body.Length, response.CutAfter ?? response.StallAfter ?? response.Body.Length);
            int chunk = Math.Max(1, send / Math.Max(1, response.TrickleChunks ?? 1));
            for (int offset = 0; offset < send; offset += chunk)
            {
                if (offset > 0)
                {
                    await Task.Delay(response.TrickleDelay);
                }
                await context.Response.OutputStream.WriteAsync(response.Body.AsMemory(offset, Math.Min(chunk, send - offset)));
                await context.Response.OutputStream.FlushAsync();
            }
            if (response.StallAfter is not null)
            {
                await Task.Delay(TimeSpan.FromSeconds(30));
            }
            if (send < response.Body.Length)
            {
                context.Response.Abort();
                return;
            }
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException or HttpRequestException)
        {
            try
            {
                context.Response.Abort();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    public static bool IsBlob(Request r) => r.Path.Contains("/blobs/sha256:", StringComparison.Ordinal);

    public static bool IsManifest(Request r) => r.Path.Contains("/manifests/", StringComparison.Ordinal);

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _upstream.Dispose();
    }
}
