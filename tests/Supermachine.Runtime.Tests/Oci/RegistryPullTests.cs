using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Oci;
using Supermachine.Oci.Locking;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;
using Supermachine.Oci.Registry;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>Pulls from Debian's distribution registry on 127.0.0.1, every source form, platform, mirror and failure.</summary>
[Collection("registry")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RegistryPullTests(RegistryFixture registry)
{
    private static RegistryOptions Options(IReadOnlyDictionary<string, IReadOnlyList<Uri>>? mirrors = null) => new()
    {
        Credentials = new NoCredentials(),
        Mirrors = mirrors ?? new Dictionary<string, IReadOnlyList<Uri>>(),
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        MaxAttempts = 3,
    };

    [RequiresRootFact("docker-registry", "skopeo", "umoci")]
    public async Task Tag_digest_and_tag_with_digest_all_pull_the_same_image_matching_umoci()
    {
        using var scratch = new OciScratch();
        var progress = new List<PullProgress>();
        PulledImage byTag = await scratch.Puller(Options()).PullAsync($"{registry.Host}/fixtures/flatten:latest",
            new PullOptions { Progress = new SyncProgress<PullProgress>(progress.Add) });
        PulledImage byDigest = await scratch.Puller(Options()).PullAsync($"{registry.Host}/fixtures/flatten@{byTag.ManifestDigest}");
        PulledImage both = await scratch.Puller(Options()).PullAsync($"docker://{registry.Host}/fixtures/flatten:latest@{byTag.ManifestDigest}");
        Assert.Equal(byTag.ManifestDigest, byDigest.ManifestDigest);
        Assert.Equal(byTag.ManifestDigest, both.ManifestDigest);
        Assert.All(byTag.Layers, l => Assert.True(scratch.Store.Contains(l.Descriptor.Digest)));
        // Progress reached each layer's full size.
        Assert.All(byTag.Manifest.Layers, l => Assert.Contains(progress, p => p.Digest == l.Digest && p.BytesDone == l.Size && p.BytesTotal == l.Size));

        string ours = await scratch.WriteRootfsAsync(byTag, "ours");
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "flatten")), TreeSnapshot.Of(ours));
    }

    [RequiresRootFact("docker-registry", "skopeo", "umoci")]
    public async Task Redis_and_zstd_images_pull_and_match_umoci()
    {
        using var scratch = new OciScratch();
        PulledImage redis = await scratch.Puller(Options()).PullAsync($"{registry.Host}/library/redis:7");
        Assert.Equal(["redis-server", "--protected-mode", "no"], redis.Config.Config.Cmd);
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "redis")), TreeSnapshot.Of(await scratch.WriteRootfsAsync(redis, "redis")));
        PulledImage zstd = await scratch.Puller(Options()).PullAsync($"{registry.Host}/fixtures/zstd:latest");
        Assert.All(zstd.Layers, l => Assert.Equal(MediaTypes.OciLayerZstd, l.Descriptor.MediaType));
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "busybox")), TreeSnapshot.Of(await scratch.WriteRootfsAsync(zstd, "zstd")));
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task Multi_platform_index_defaults_to_the_host_and_selects_arm64_and_reports_a_missing_platform()
    {
        using var scratch = new OciScratch();
        string image = $"{registry.Host}/fixtures/multi:latest";
        PulledImage host = await scratch.Puller(Options()).PullAsync(image);
        Assert.Equal(Platform.Host.Architecture, host.Config.Architecture);
        Assert.NotNull(host.IndexDigest);
        PulledImage arm = await scratch.Puller(Options()).PullAsync(image, new PullOptions { Platform = Platform.Parse("linux/arm64/v8") });
        Assert.Equal("arm64", arm.Config.Architecture);
        Assert.NotEqual(host.ManifestDigest, arm.ManifestDigest);
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync(image, new PullOptions { Platform = Platform.Parse("linux/s390x") }));
        Assert.Equal("SM2006", ex.Code);
        Assert.Contains("linux/arm64/v8", ex.Message);
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task Docker_hub_reference_goes_to_the_mirror()
    {
        using var scratch = new OciScratch();
        var mirrors = RegistryOptions.ParseMirrors($"docker.io=http://{registry.Host}");
        PulledImage image = await scratch.Puller(Options(mirrors)).PullAsync("redis:7");
        Assert.Equal("docker.io/library/redis:7", image.Reference!.ToString());
        Assert.Equal(3, image.Layers.Count);
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task A_dead_mirror_falls_back_to_the_origin()
    {
        using var scratch = new OciScratch();
        int dead = RegistryServer.FreePort();
        var mirrors = RegistryOptions.ParseMirrors($"{registry.Host}=http://127.0.0.1:{dead}");
        PulledImage image = await scratch.Puller(Options(mirrors)).PullAsync($"{registry.Host}/fixtures/busybox:latest");
        Assert.Single(image.Layers);
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task Unknown_tag_and_unknown_repository_are_SM1001()
    {
        using var scratch = new OciScratch();
        var tag = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync($"{registry.Host}/fixtures/busybox:nope"));
        Assert.Equal("SM1001", tag.Code);
        Assert.Contains("fixtures/busybox:nope", tag.Message);
        var repo = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync($"{registry.Host}/fixtures/absent:1"));
        Assert.Equal("SM1001", repo.Code);
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task A_locked_resolution_pulls_by_digest_and_new_ones_are_recorded()
    {
        using var scratch = new OciScratch();
        var lockFile = new ImageLockFile();
        string v1 = $"{registry.Host}/fixtures/app:v1";
        PulledImage first = await scratch.Puller(Options()).PullAsync(v1, new PullOptions { LockFile = lockFile });
        Assert.Equal(first.ManifestDigest, lockFile.TryGet(ImageReference.Parse(v1), Platform.Host.ToString()));
        Assert.True(lockFile.IsChanged);

        // Lock v1 to v2's digest: the locked pull must follow the lock, not the tag.
        PulledImage v2 = await scratch.Puller(Options()).PullAsync($"{registry.Host}/fixtures/app:v2");
        lockFile.Set(ImageReference.Parse(v1), Platform.Host.ToString(), v2.ManifestDigest);
        PulledImage locked = await scratch.Puller(Options()).PullAsync(v1, new PullOptions { LockFile = lockFile });
        Assert.Equal(v2.ManifestDigest, locked.ManifestDigest);
        Assert.Equal(3, locked.Layers.Count);
        PulledImage refreshed = await scratch.Puller(Options()).PullAsync(v1, new PullOptions { LockFile = lockFile, RefreshLock = true });
        Assert.Equal(first.ManifestDigest, refreshed.ManifestDigest);
        Assert.Equal(first.ManifestDigest, lockFile.TryGet(ImageReference.Parse(v1), Platform.Host.ToString()));
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task Altered_blob_bytes_are_a_digest_mismatch_and_nothing_is_stored()
    {
        using var scratch = new OciScratch();
        await using var proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (TamperingProxy.IsBlob(request) && response.Body.Length > 0)
            {
                response.Body = (byte[])response.Body.Clone();
                response.Body[^1] ^= 0xff;
            }
            return Task.CompletedTask;
        });
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest"));
        Assert.Equal("SM2007", ex.Code);
        Assert.DoesNotContain(Directory.GetFiles(Path.Combine(scratch.Store.Root, "blobs", "sha256")), f => !IsManifest(f));
        Assert.Empty(Directory.GetFiles(Path.Combine(scratch.Store.Root, "tmp")));
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task A_truncated_blob_is_SM2007()
    {
        using var scratch = new OciScratch();
        await using var proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (TamperingProxy.IsBlob(request))
            {
                response.Body = response.Body[..(response.Body.Length / 2)];
            }
            return Task.CompletedTask;
        });
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest"));
        Assert.Equal("SM2007", ex.Code);
        Assert.Contains("truncated", ex.Message);
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task Malformed_manifest_json_is_SM2005()
    {
        using var scratch = new OciScratch();
        await using var proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (TamperingProxy.IsManifest(request))
            {
                response.Body = Encoding.UTF8.GetBytes("{\"schemaVersion\": 2, \"layers\": [");
            }
            return Task.CompletedTask;
        });
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest"));
        Assert.Equal("SM2005", ex.Code);
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task Rate_limits_server_errors_and_resets_are_retried()
    {
        using var scratch = new OciScratch();
        await using var proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (TamperingProxy.IsManifest(request) && request.Attempt == 1)
            {
                response.Status = 429;
                response.Headers["Retry-After"] = "1";
                response.Body = [];
            }
            else if (TamperingProxy.IsBlob(request) && request.Attempt == 1)
            {
                response.Status = 503;
                response.Body = [];
            }
            else if (TamperingProxy.IsBlob(request) && request.Attempt == 2)
            {
                response.CutAfter = response.Body.Length / 3; // connection reset mid-body
            }
            return Task.CompletedTask;
        });
        PulledImage image = await scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest");
        Assert.Single(image.Layers);
        Assert.True(scratch.Store.Contains(image.Layers[0].Descriptor.Digest));
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task Blob_redirects_to_storage_are_followed()
    {
        using var scratch = new OciScratch();
        int redirects = 0;
        TamperingProxy? proxy = null;
        proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (TamperingProxy.IsBlob(request) && !request.Path.StartsWith("/storage/", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref redirects);
                response.Status = 307;
                response.Headers["Location"] = $"http://{proxy!.Host}/storage{request.Path}";
                response.Body = [];
            }
            return Task.CompletedTask;
        });
        await using (proxy)
        {
            PulledImage image = await scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/app:v2");
            Assert.Equal(3, image.Layers.Count);
            Assert.Equal(4, redirects); // config and three layers
            Assert.False(proxy.StorageSawAuthorization);
        }
    }

    [RequiresToolFact("docker-registry", "skopeo", "umoci")]
    public async Task A_killed_download_leaves_no_blob_and_a_retry_is_clean()
    {
        using var scratch = new OciScratch();
        await using var proxy = new TamperingProxy(registry.Host, (request, response) =>
        {
            if (TamperingProxy.IsBlob(request) && response.Body.Length > 100_000)
            {
                response.StallAfter = response.Body.Length / 2;
            }
            return Task.CompletedTask;
        });
        using var cts = new CancellationTokenSource();
        var progress = new SyncProgress<PullProgress>(p =>
        {
            if (p.Kind == "layer" && p.BytesDone > 0 && p.BytesDone < p.BytesTotal)
            {
                cts.Cancel();
            }
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => scratch.Puller(Options()).PullAsync($"{proxy.Host}/fixtures/busybox:latest", new PullOptions { Progress = progress }, cts.Token));
        string layer = (await scratch.Puller(Options()).PullAsync($"{registry.Host}/fixtures/busybox:latest")).Layers[0].Descriptor.Digest;

        // As a SIGKILLed pull would: a partial temp file, no blob. The next pull ignores and removes it.
        using var scratch2 = new OciScratch();
        string leftover = Path.Combine(scratch2.Store.Root, "tmp", OciDigest.Hex(layer) + ".partial");
        await File.WriteAllBytesAsync(leftover, new byte[1000]);
        Assert.False(scratch2.Store.Contains(layer));
        PulledImage retry = await scratch2.Puller(Options()).PullAsync($"{registry.Host}/fixtures/busybox:latest");
        Assert.Equal(layer, retry.Layers[0].Descriptor.Digest);
        Assert.Equal(layer, OciDigest.Compute(await scratch2.Store.ReadAllBytesAsync(layer)));
        Assert.False(File.Exists(leftover));
    }

    private static bool IsManifest(string blobPath)
    {
        byte[] head = File.ReadAllBytes(blobPath);
        return head.Length > 0 && head[0] == (byte)'{';
    }
}

/// <summary>An IProgress that reports on the caller's thread (Progress&lt;T&gt; posts to the thread pool).</summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value)
    {
        lock (this)
        {
            report(value);
        }
    }
}
