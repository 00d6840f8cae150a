using System.Diagnostics;
using System.Net;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Oci;
using Supermachine.Oci.Registry;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>
/// The idle timeout on every network read, against real HTTP servers on 127.0.0.1 that stall:
/// mid-blob, before a manifest's headers, in a token answer; and one that is slow but keeps moving.
/// </summary>
[Collection("registry")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RegistryTimeoutTests(RegistryFixture registry)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    private static RegistryOptions Options() => new()
    {
        Credentials = new NoCredentials(),
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        MaxAttempts = 3,
        NetworkTimeout = Timeout,
    };

    private static bool IsLargeBlob(TamperingProxy.Request request, TamperingProxy.Response response) =>
        TamperingProxy.IsBlob(request) && response.Body.Length > 100_000;

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task A_blob_that_stalls_mid_body_is_retried_then_fails_SM1010_naming_registry_and_blob_leaving_nothing_partial()
    {
        using var scratch = new OciScratch();
        int stalls = 0;
        string? layerPath = null;
        await using var proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (IsLargeBlob(request, response))
            {
                Interlocked.Increment(ref stalls);
                layerPath = request.Path;
                response.StallAfter = response.Body.Length / 10;
            }
            return Task.CompletedTask;
        });
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest"));
        clock.Stop();

        Assert.Equal("SM1010", ex.Code);
        Assert.Contains(proxy.Host, ex.Message);
        string digest = layerPath![(layerPath!.LastIndexOf('/') + 1)..];
        Assert.Contains("blob " + digest, ex.Message);
        Assert.Equal(3, stalls); // the blob retry policy: three attempts, each given up after the idle timeout
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(30));
        Assert.False(scratch.Store.Contains(digest));
        Assert.Empty(Directory.GetFiles(Path.Combine(scratch.Store.Root, "tmp")));
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task A_blob_that_stalls_once_is_fetched_again()
    {
        using var scratch = new OciScratch();
        await using var proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (IsLargeBlob(request, response) && request.Attempt == 1)
            {
                response.StallAfter = response.Body.Length / 2;
            }
            return Task.CompletedTask;
        });
        PulledImage image = await scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest");
        Assert.True(scratch.Store.Contains(image.Layers[0].Descriptor.Digest));
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task A_slow_but_moving_blob_is_not_cut_off()
    {
        using var scratch = new OciScratch();
        var clock = Stopwatch.StartNew();
        await using var proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (IsLargeBlob(request, response))
            {
                // Four times the idle timeout in all, never more than half of it without a byte.
                response.TrickleChunks = 8;
                response.TrickleDelay = Timeout / 2;
            }
            return Task.CompletedTask;
        });
        PulledImage image = await scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest");
        Assert.True(scratch.Store.Contains(image.Layers[0].Descriptor.Digest));
        Assert.True(clock.Elapsed > Timeout * 3, $"the download took only {clock.Elapsed}, so it was not slow");
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task A_manifest_whose_answer_never_comes_is_SM1010()
    {
        using var scratch = new OciScratch();
        await using var proxy = new TamperingProxy(registry.Host, async (request, response) =>
        {
            if (TamperingProxy.IsManifest(request))
            {
                await Task.Delay(TimeSpan.FromSeconds(10)); // no headers at all
            }
        });
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest"));
        Assert.Equal("SM1010", ex.Code);
        Assert.Contains(proxy.Host, ex.Message);
        Assert.Contains("manifest latest", ex.Message);
    }

    [Fact]
    public async Task A_token_service_that_stalls_mid_answer_is_SM1010_naming_it()
    {
        int tokenRequests = 0;
        await using var tokens = new LoopbackHttpServer(async context =>
        {
            Interlocked.Increment(ref tokenRequests);
            byte[] body = Encoding.UTF8.GetBytes("{\"token\":\"abcdefghijklmnopqrstuvwxyz\"}");
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body.AsMemory(0, 10));
            await context.Response.OutputStream.FlushAsync();
            await Task.Delay(TimeSpan.FromSeconds(10));
            context.Response.Abort();
        });
        await using var fakeRegistry = new LoopbackHttpServer(context =>
        {
            context.Response.StatusCode = (int)HttpStatusCode.Unauthorized;
            context.Response.Headers["WWW-Authenticate"] = $"Bearer realm=\"http://{tokens.Host}/token\",service=\"test\"";
            context.Response.Close();
            return Task.CompletedTask;
        });
        using var scratch = new OciScratch();
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync($"{fakeRegistry.Host}/some/image:1"));
        Assert.Equal("SM1010", ex.Code);
        Assert.Contains(tokens.Host, ex.Message);
        Assert.Contains("token", ex.Message);
        Assert.Equal(3, tokenRequests);
    }

    [Fact]
    public void The_timeout_comes_from_SUPERMACHINE_NETWORK_TIMEOUT_and_a_bad_value_is_SM2024()
    {
        Assert.Equal(TimeSpan.FromSeconds(60), RegistryOptions.ParseNetworkTimeout(null));
        Assert.Equal(TimeSpan.FromSeconds(60), RegistryOptions.ParseNetworkTimeout(" "));
        Assert.Equal(TimeSpan.FromSeconds(2.5), RegistryOptions.ParseNetworkTimeout("2.5"));
        Assert.Equal(TimeSpan.FromSeconds(300), RegistryOptions.ParseNetworkTimeout("300"));
        foreach (string bad in new[] { "0", "-5", "abc", "60s", "1e9", "NaN" })
        {
            var ex = Assert.Throws<SupermachineException>(() => RegistryOptions.ParseNetworkTimeout(bad));
            Assert.Equal("SM2024", ex.Code);
            Assert.Contains($"'{bad}'", ex.Message);
        }
    }
}
