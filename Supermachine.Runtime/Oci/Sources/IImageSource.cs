using Supermachine.Oci.Manifests;

namespace Supermachine.Oci.Sources;

/// <summary>
/// Where an image comes from: a registry, an OCI layout directory, an oci-archive or a docker-save
/// archive. Every source answers the same three questions; <see cref="ImagePuller"/> does the rest
/// (platform selection, verification, the content store) once for all of them.
/// </summary>
internal interface IImageSource : IAsyncDisposable
{
    /// <summary>How the image is named in messages.</summary>
    string DisplayName { get; }

    /// <summary>The manifest or index the source names (a tag, a digest, or the only image).</summary>
    Task<ManifestDocument> GetRootManifestAsync(CancellationToken cancellationToken);

    /// <summary>A manifest an index points at.</summary>
    Task<ManifestDocument> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken);

    /// <summary>The raw bytes of a blob (config or layer), to be verified by the caller.</summary>
    Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken);
}
