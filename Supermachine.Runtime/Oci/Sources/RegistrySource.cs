using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;
using Supermachine.Oci.Registry;

namespace Supermachine.Oci.Sources;

/// <summary>An image in a registry (through its mirrors).</summary>
internal sealed class RegistrySource(RegistryClient client, ImageReference reference) : IImageSource
{
    public ImageReference Reference => reference;

    public string DisplayName => reference.ToString();

    public Task<ManifestDocument> GetRootManifestAsync(CancellationToken cancellationToken) =>
        client.GetManifestAsync(reference, reference.ManifestReference, cancellationToken);

    public Task<ManifestDocument> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        client.GetManifestAsync(reference, descriptor.Digest, cancellationToken);

    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        client.OpenBlobAsync(reference, descriptor.Digest, cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
