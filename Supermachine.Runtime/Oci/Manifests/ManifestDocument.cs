using System.Text.Json;
using Supermachine.Diagnostics;

namespace Supermachine.Oci.Manifests;

/// <summary>
/// A manifest or index as fetched: its exact bytes (the digest is over them), its digest, and the
/// parsed form. Media type comes from the document itself, else from the transport, else its shape.
/// </summary>
public sealed class ManifestDocument
{
    private ManifestDocument(byte[] content, string digest, string mediaType, ImageManifest? manifest, ImageIndex? index)
    {
        Content = content;
        Digest = digest;
        MediaType = mediaType;
        Manifest = manifest;
        Index = index;
    }

    public byte[] Content { get; }
    public string Digest { get; }
    public string MediaType { get; }
    public ImageManifest? Manifest { get; }
    public ImageIndex? Index { get; }
    public bool IsIndex => Index is not null;

    /// <summary>Parses <paramref name="content"/>; malformed JSON or a document of no known kind is SM2005 naming <paramref name="source"/>.</summary>
    public static ManifestDocument Parse(byte[] content, string? transportMediaType, string source)
    {
        string digest = References.OciDigest.Compute(content);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(content);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Diagnostic.Error("SM2005", source, "the document is not a JSON object");
            }
            string? mediaType = doc.RootElement.TryGetProperty("mediaType", out JsonElement mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            if (mediaType is null && transportMediaType is not null && (MediaTypes.IsIndex(transportMediaType) || MediaTypes.IsManifest(transportMediaType)))
            {
                mediaType = transportMediaType;
            }
            bool hasManifests = doc.RootElement.TryGetProperty("manifests", out _);
            bool hasLayers = doc.RootElement.TryGetProperty("layers", out _);
            mediaType ??= hasManifests ? MediaTypes.OciIndex : hasLayers ? MediaTypes.OciManifest : null;
            if (doc.RootElement.TryGetProperty("schemaVersion", out JsonElement sv) && sv.ValueKind == JsonValueKind.Number && sv.GetInt32() == 1)
            {
                throw Diagnostic.Error("SM2005", source, "Docker schema 1 manifests are not supported; push the image again with a current tool");
            }
            if (MediaTypes.IsIndex(mediaType))
            {
                ImageIndex index = doc.RootElement.Deserialize<ImageIndex>(OciJson.Options) ?? throw Diagnostic.Error("SM2005", source, "the index is null");
                if (index.Manifests is null || index.Manifests.Any(m => m is null || !References.OciDigest.IsValid(m.Digest)))
                {
                    throw Diagnostic.Error("SM2005", source, "an index entry lacks a valid sha256 digest");
                }
                CheckSizes(index.Manifests.Select((m, i) => ($"index entry {i + 1}", m)), source);
                return new ManifestDocument(content, digest, mediaType!, null, index);
            }
            if (MediaTypes.IsManifest(mediaType))
            {
                ImageManifest manifest = doc.RootElement.Deserialize<ImageManifest>(OciJson.Options) ?? throw Diagnostic.Error("SM2005", source, "the manifest is null");
                if (manifest.Config is null || manifest.Layers is null || !References.OciDigest.IsValid(manifest.Config.Digest)
                    || manifest.Layers.Any(l => l is null || !References.OciDigest.IsValid(l.Digest)))
                {
                    throw Diagnostic.Error("SM2005", source, "the config or a layer lacks a valid sha256 digest");
                }
                CheckSizes([("config", manifest.Config), .. manifest.Layers.Select((l, i) => ($"layer {i + 1}", l))], source);
                return new ManifestDocument(content, digest, mediaType!, manifest, null);
            }
            throw Diagnostic.Error("SM2005", source, $"the media type '{mediaType ?? "(none)"}' is neither an image manifest nor an index");
        }
        catch (JsonException ex)
        {
            throw Diagnostic.Error(ex, "SM2005", source, "it is not valid JSON (" + ex.Message + ")");
        }
    }

    // A negative size would disable the content store's length check ("size unknown"): refused.
    private static void CheckSizes(IEnumerable<(string What, Descriptor Descriptor)> descriptors, string source)
    {
        foreach (var (what, descriptor) in descriptors)
        {
            if (descriptor.Size < 0)
            {
                throw Diagnostic.Error("SM2005", source, $"the descriptor of {what} ({descriptor.Digest}) has the negative size {descriptor.Size}");
            }
        }
    }

    /// <summary>The index entry for <paramref name="platform"/>; SM2006 listing what the index offers when none fits.</summary>
    public Descriptor SelectPlatform(Platform platform, string source)
    {
        ImageIndex index = Index ?? throw new InvalidOperationException("not an index");
        if (index.Manifests.Count == 0)
        {
            throw Diagnostic.Error("SM2023", source);
        }
        // Attestation manifests (buildkit's unknown/unknown) never match a real platform, so no filter is needed.
        Descriptor? match = index.Manifests.FirstOrDefault(m => MediaTypes.IsManifest(m.MediaType ?? MediaTypes.OciManifest) && platform.Matches(m.Platform))
            ?? index.Manifests.FirstOrDefault(m => MediaTypes.IsIndex(m.MediaType) && platform.Matches(m.Platform));
        if (match is null)
        {
            string offered = string.Join(", ", index.Manifests.Select(m => m.Platform?.ToString() ?? "(no platform)"));
            throw Diagnostic.Error("SM2006", source, platform, offered);
        }
        return match;
    }
}
