using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Supermachine.Oci.Layers;
using Supermachine.Oci.Storage;

namespace Supermachine.Dockerfile.Building;

/// <summary>One layer blob of a build state, in the content store.</summary>
/// <param name="Digest">Digest of the blob as stored (compressed for base image layers).</param>
/// <param name="DiffId">Digest of the uncompressed tar (the image config's <c>rootfs.diff_ids</c>).</param>
/// <param name="MediaType">The blob's OCI media type.</param>
/// <param name="Size">The blob's size in bytes.</param>
internal sealed record ChainLayer(
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("diffId")] string DiffId,
    [property: JsonPropertyName("mediaType")] string MediaType,
    [property: JsonPropertyName("size")] long Size);

/// <summary>
/// A filesystem state of a build as the OCI layers that make it, bottom first: the base image's
/// layers, then one layer per step that changed something. A RUN's layer is everything its build VM
/// changed since it booted, so consecutive RUNs in one VM replace their predecessor's layer rather
/// than stack on it. Flattening the chain gives the state; the final chain is the built image.
/// </summary>
internal sealed record LayerChain([property: JsonPropertyName("layers")] IReadOnlyList<ChainLayer> Layers)
{
    public static LayerChain Empty { get; } = new([]);

    public LayerChain Append(ChainLayer layer) => new([.. Layers, layer]);

    /// <summary>A short stable name for the state (for cached root filesystems).</summary>
    [JsonIgnore]
    public string Id => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', Layers.Select(l => l.Digest)))))[..32];

    /// <summary>The flattener's inputs: each blob from the store, checked against its digest.</summary>
    public IReadOnlyList<LayerInput> ToLayerInputs(ContentStore store) =>
        Layers.Select(l => new LayerInput(store.GetBlobPath(l.Digest), l.Digest)).ToList();
}
