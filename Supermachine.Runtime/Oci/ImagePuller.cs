using System.Text.Json;
using Supermachine.Diagnostics;
using Supermachine.Oci.Locking;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;
using Supermachine.Oci.Registry;
using Supermachine.Oci.Sources;
using Supermachine.Oci.Storage;

namespace Supermachine.Oci;

/// <summary>Bytes of one blob so far, for progress displays.</summary>
internal readonly record struct PullProgress(string Digest, string Kind, long BytesDone, long BytesTotal);

internal sealed class PullOptions
{
    /// <summary>The platform to select from an index; default linux on the host's architecture.</summary>
    public Platform? Platform { get; init; }

    /// <summary>Locked digests: a reference found here is pulled by digest; others are resolved and recorded in it.</summary>
    public ImageLockFile? LockFile { get; init; }

    /// <summary>Resolve again even when <see cref="LockFile"/> has the reference, updating it.</summary>
    public bool RefreshLock { get; init; }

    public IProgress<PullProgress>? Progress { get; init; }

    public int MaxParallelDownloads { get; init; } = 4;
}

/// <summary>A layer blob in the content store.</summary>
internal sealed record PulledLayer(Descriptor Descriptor, string Path);

/// <summary>The outcome of a pull: everything needed to flatten and run the image, all in the content store.</summary>
internal sealed record PulledImage
{
    public required string Source { get; init; }

    /// <summary>The registry reference, for registry sources.</summary>
    public ImageReference? Reference { get; init; }

    /// <summary>Digest of the platform's image manifest.</summary>
    public required string ManifestDigest { get; init; }

    /// <summary>Digest of the index it was chosen from, when there was one.</summary>
    public string? IndexDigest { get; init; }

    public required Platform Platform { get; init; }
    public required ImageManifest Manifest { get; init; }
    public required string ConfigDigest { get; init; }
    public required ImageConfigFile Config { get; init; }
    public required IReadOnlyList<PulledLayer> Layers { get; init; }
}

/// <summary>
/// Pulls an image from any source (registry reference, <c>oci-layout:</c>, <c>oci-archive:</c>,
/// <c>docker-archive:</c>) into the content store: index → platform → manifest → config and layers,
/// each verified against its digest.
/// </summary>
internal sealed class ImagePuller(ContentStore store, RegistryClient registry)
{
    private const int BlobAttempts = 3;

    public ContentStore Store => store;

    /// <summary>The source <paramref name="image"/> names (see the class summary for the forms).</summary>
    public IImageSource OpenSource(string image)
    {
        if (TrySplitPrefixed(image, "oci-layout:", out string path, out string? tag))
        {
            if (!Directory.Exists(path))
            {
                throw Errors.ImageSourceMissing(image, "directory", path, Environment.CurrentDirectory);
            }
            return new OciLayoutSource(new DirectoryLayoutFiles(path), tag, image);
        }
        if (TrySplitPrefixed(image, "oci-archive:", out path, out tag))
        {
            return new OciLayoutSource(OpenArchive(path, image), tag, image);
        }
        if (image.StartsWith("docker-archive:", StringComparison.Ordinal))
        {
            // docker-archive:FILE[:REPO:TAG], as skopeo spells it; the reference picks one of several saved images.
            string file = image["docker-archive:".Length..];
            string? wanted = null;
            for (int colon = file.IndexOf(':'); !File.Exists(file) && colon > 0; colon = file.IndexOf(':', colon + 1))
            {
                if (File.Exists(file[..colon]))
                {
                    wanted = file[(colon + 1)..];
                    file = file[..colon];
                    break;
                }
            }
            return new DockerArchiveSource(OpenArchive(file, image), store, image, wanted);
        }
        string reference = image.StartsWith("docker://", StringComparison.Ordinal) ? image["docker://".Length..] : image;
        if (LooksLikePath(reference))
        {
            string state = Directory.Exists(reference) ? "is a directory" : File.Exists(reference) ? "is a file" : "does not exist either";
            throw Errors.LocalPathWithoutForm(reference, state);
        }
        return new RegistrySource(registry, ImageReference.Parse(reference));
    }

    public async Task<PulledImage> PullAsync(string image, PullOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new PullOptions();
        Platform platform = options.Platform ?? Platform.Host;
        await using IImageSource source = OpenSource(image);

        // A locked registry reference is pulled by the digest the lock names.
        IImageSource effective = source;
        ImageReference? reference = (source as RegistrySource)?.Reference;
        bool lockable = reference is { Digest: null } && options.LockFile is not null;
        string lockPlatform = platform.ToString(); // the platform asked for, which the lock is keyed by
        if (lockable && !options.RefreshLock && options.LockFile!.TryGet(reference!, lockPlatform) is string locked)
        {
            effective = new RegistrySource(registry, reference!.WithDigest(locked));
        }

        ManifestDocument root = await effective.GetRootManifestAsync(cancellationToken).ConfigureAwait(false);
        ManifestDocument document = root;
        string? indexDigest = null;
        for (int depth = 0; document.IsIndex; depth++)
        {
            if (depth == 2)
            {
                throw Errors.MalformedImageDocument(source.DisplayName, "indexes are nested too deeply");
            }
            indexDigest ??= document.Digest;
            IReadOnlyList<Descriptor> entries = document.Index!.Manifests;
            Descriptor chosen = entries.Count == 1 && entries[0].Platform is null ? entries[0] : document.SelectPlatform(platform, source.DisplayName);
            document = await effective.GetManifestAsync(chosen, cancellationToken).ConfigureAwait(false);
        }
        ImageManifest manifest = document.Manifest!;
        await store.PutAsync(document.Content, cancellationToken).ConfigureAwait(false);

        string configPath = await FetchAsync(effective, manifest.Config, "config", options, cancellationToken).ConfigureAwait(false);
        ImageConfigFile config;
        try
        {
            config = JsonSerializer.Deserialize<ImageConfigFile>(await File.ReadAllBytesAsync(configPath, cancellationToken).ConfigureAwait(false), OciJson.Options)
                ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            throw Errors.MalformedImageDocument($"{source.DisplayName} config {manifest.Config.Digest}", "it is not valid JSON (" + ex.Message + ")", cause: ex);
        }
        CheckDiffIds(config, manifest, $"{source.DisplayName} config {manifest.Config.Digest}");
        // A plain manifest (no index) for another architecture would only fail later inside the VM.
        if (options.Platform is not null && config.Architecture is not null
            && !platform.Matches(new Platform { OS = config.OS ?? "linux", Architecture = config.Architecture, Variant = platform.Variant is null ? null : config.Variant }))
        {
            throw Errors.NoManifestForPlatform(source.DisplayName, platform, $"{config.OS}/{config.Architecture}{(config.Variant is null ? "" : "/" + config.Variant)}");
        }
        // Without a requested platform, an image of one platform is what it says it is: an arm64-only
        // image runs as an arm64 guest, not as the host's.
        if (options.Platform is null && config.Architecture is { Length: > 0 } architecture
            && !platform.Matches(new Platform { OS = config.OS ?? "linux", Architecture = architecture }))
        {
            platform = new Platform { OS = config.OS ?? "linux", Architecture = architecture, Variant = config.Variant };
        }

        // Announce every layer first so a progress display knows the total from the start.
        foreach (Descriptor layer in manifest.Layers)
        {
            options.Progress?.Report(new PullProgress(layer.Digest, "layer", store.Contains(layer.Digest) ? layer.Size : 0, layer.Size));
        }
        var layers = new PulledLayer[manifest.Layers.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, layers.Length),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.MaxParallelDownloads), CancellationToken = cancellationToken },
            async (i, ct) => layers[i] = new PulledLayer(manifest.Layers[i], await FetchAsync(effective, manifest.Layers[i], "layer", options, ct).ConfigureAwait(false))).ConfigureAwait(false);

        if (lockable)
        {
            options.LockFile!.Set(reference!, lockPlatform, document.Digest);
        }
        return new PulledImage
        {
            Source = source.DisplayName,
            Reference = reference,
            ManifestDigest = document.Digest,
            IndexDigest = indexDigest,
            Platform = platform,
            Manifest = manifest,
            ConfigDigest = manifest.Config.Digest,
            Config = config,
            Layers = layers,
        };
    }

    // Connection resets and stalls mid-blob restart that blob; verification failures do not (the bytes are wrong, not late).
    private async Task<string> FetchAsync(IImageSource source, Descriptor descriptor, string kind, PullOptions options, CancellationToken cancellationToken)
    {
        var progress = options.Progress is { } p ? new Progress<long>(done => p.Report(new PullProgress(descriptor.Digest, kind, done, descriptor.Size))) : null;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                string path = await store.EnsureAsync(descriptor.Digest, descriptor.Size, ct => source.OpenBlobAsync(descriptor, ct), source.DisplayName, progress, cancellationToken).ConfigureAwait(false);
                options.Progress?.Report(new PullProgress(descriptor.Digest, kind, descriptor.Size, descriptor.Size));
                return path;
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && attempt < BlobAttempts && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(200 * attempt, cancellationToken).ConfigureAwait(false);
            }
            catch (NetworkStallException ex)
            {
                throw RegistryClient.NetworkFailure(ex, source.DisplayName, ex.Authority);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                throw Errors.BlobDownloadFailed(descriptor.Digest, source.DisplayName, ex.Message, cause: ex);
            }
        }
    }

    // rootfs.diff_ids names each layer's uncompressed digest, in order: the flattener checks the
    // digests as it decompresses; the count and form are checked here, before any layer is fetched.
    private static void CheckDiffIds(ImageConfigFile config, ImageManifest manifest, string where)
    {
        if (config.RootFs?.DiffIds is not { } diffIds)
        {
            return;
        }
        if (diffIds.Count != manifest.Layers.Count)
        {
            throw Errors.MalformedImageDocument(where, $"its rootfs.diff_ids lists {diffIds.Count} layers where the manifest has {manifest.Layers.Count}");
        }
        for (int i = 0; i < diffIds.Count; i++)
        {
            if (!OciDigest.IsValid(diffIds[i]))
            {
                throw Errors.MalformedImageDocument(where, $"rootfs.diff_ids[{i}] '{diffIds[i]}' is not a sha256 digest");
            }
        }
    }

    // What a user meant as a file or directory rather than a registry reference: written as a path
    // (no reference starts with '/' or '.', and none names a .tar), or no reference but present on disk.
    private static bool LooksLikePath(string reference) =>
        reference.StartsWith('/') || reference.StartsWith('.') || reference.StartsWith('~')
        || reference.EndsWith(".tar", StringComparison.OrdinalIgnoreCase)
        || (!ImageReference.TryParse(reference, out _, out _) && (File.Exists(reference) || Directory.Exists(reference)));

    private static TarArchiveLayoutFiles OpenArchive(string path, string image)
    {
        if (!File.Exists(path))
        {
            throw Errors.ImageSourceMissing(image, Directory.Exists(path) ? "tar file (it is a directory)" : "tar file", path, Environment.CurrentDirectory);
        }
        try
        {
            return new TarArchiveLayoutFiles(path);
        }
        catch (InvalidDataException ex)
        {
            throw Errors.MalformedImageDocument(image, "it is not an uncompressed tar archive (" + ex.Message + ")", cause: ex);
        }
    }

    // "DIR[:TAG]": a trailing ":name" without a '/' is the tag, so paths with colons still work when tagged.
    private static bool TrySplitPrefixed(string image, string prefix, out string path, out string? tag)
    {
        path = "";
        tag = null;
        if (!image.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }
        string rest = image[prefix.Length..];
        int colon = rest.LastIndexOf(':');
        if (colon > 0 && rest.IndexOf('/', colon) < 0 && !(File.Exists(rest) || Directory.Exists(rest)))
        {
            path = rest[..colon];
            tag = rest[(colon + 1)..];
        }
        else
        {
            path = rest;
        }
        return true;
    }
}
