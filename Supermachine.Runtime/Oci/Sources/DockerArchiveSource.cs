using System.Text.Json;
using System.Text.Json.Serialization;
using Supermachine.Diagnostics;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;
using Supermachine.Oci.Storage;

namespace Supermachine.Oci.Sources;

/// <summary>
/// <c>docker save</c> output (<c>docker-archive:FILE</c>). Only <c>manifest.json</c> is trusted:
/// Docker Desktop's containerd store writes an index.json whose per-architecture manifests are not
/// in the archive. Layers are imported into the store under their computed digests and a Docker
/// schema 2 manifest is synthesized over them, so the rest of the pipeline sees a normal image.
/// </summary>
internal sealed class DockerArchiveSource(TarArchiveLayoutFiles files, ContentStore store, string displayName, string? reference = null) : IImageSource
{
    private ManifestDocument? _manifest;

    public string DisplayName => displayName;

    public async Task<ManifestDocument> GetRootManifestAsync(CancellationToken cancellationToken)
    {
        if (_manifest is not null)
        {
            return _manifest;
        }
        List<SaveEntry>? entries;
        await using (Stream stream = files.TryOpen("manifest.json") ?? throw Errors.MissingInImageSource("manifest.json", DisplayName))
        {
            try
            {
                entries = await JsonSerializer.DeserializeAsync<List<SaveEntry>>(stream, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                throw Errors.MalformedImageDocument(DisplayName + " manifest.json", "it is not valid JSON (" + ex.Message + ")", cause: ex);
            }
        }
        if (entries is not { Count: > 0 } || entries[0].Config is null || entries[0].Layers is null)
        {
            throw Errors.MalformedImageDocument(DisplayName + " manifest.json", "it names no image with a Config and Layers");
        }
        SaveEntry image = entries[0];
        if (reference is not null)
        {
            string Normal(string r) => References.ImageReference.TryParse(r, out var parsed, out _) ? parsed.ToString() : r;
            image = entries.FirstOrDefault(e => e.RepoTags?.Any(t => Normal(t) == Normal(reference)) == true)
                ?? throw Errors.TagNotInSource(reference, DisplayName, string.Join(", ", entries.SelectMany(e => e.RepoTags ?? [])));
        }
        Descriptor config = await ImportAsync(image.Config!, MediaTypes.DockerConfig, cancellationToken).ConfigureAwait(false);
        var layers = new List<Descriptor>();
        foreach (string layer in image.Layers!)
        {
            layers.Add(await ImportAsync(layer, null, cancellationToken).ConfigureAwait(false));
        }
        var manifest = new ImageManifest { SchemaVersion = 2, MediaType = MediaTypes.DockerManifest, Config = config, Layers = layers };
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(manifest, OciJson.Options);
        _manifest = ManifestDocument.Parse(bytes, MediaTypes.DockerManifest, DisplayName);
        return _manifest;
    }

    public Task<ManifestDocument> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        throw Errors.MissingInImageSource(descriptor.Digest, DisplayName);

    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        Task.FromResult(store.OpenRead(descriptor.Digest));

    public ValueTask DisposeAsync()
    {
        files.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<Descriptor> ImportAsync(string member, string? mediaType, CancellationToken cancellationToken)
    {
        await using Stream stream = files.TryOpen(member) ?? throw Errors.MissingInImageSource(member, DisplayName);
        var (digest, size) = await store.ImportAsync(stream, cancellationToken).ConfigureAwait(false);
        if (mediaType is null)
        {
            await using Stream blob = store.OpenRead(digest);
            byte[] magic = new byte[4];
            int n = await blob.ReadAtLeastAsync(magic, 4, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            mediaType = n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b ? MediaTypes.DockerLayerGzip
                : n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd ? MediaTypes.OciLayerZstd
                : MediaTypes.OciLayer;
        }
        return new Descriptor { MediaType = mediaType, Digest = digest, Size = size };
    }

    private sealed record SaveEntry
    {
        [JsonPropertyName("Config")] public string? Config { get; init; }
        [JsonPropertyName("RepoTags")] public IReadOnlyList<string>? RepoTags { get; init; }
        [JsonPropertyName("Layers")] public IReadOnlyList<string>? Layers { get; init; }
    }
}
