using Supermachine.Diagnostics;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;

namespace Supermachine.Oci.Sources;

/// <summary>An OCI image layout (<c>oci-layout:DIR[:TAG]</c>) or the same inside a tar (<c>oci-archive:FILE[:TAG]</c>).</summary>
internal sealed class OciLayoutSource : IImageSource
{
    private const string RefNameAnnotation = "org.opencontainers.image.ref.name";
    private readonly ILayoutFiles _files;
    private readonly string? _tag;

    public OciLayoutSource(ILayoutFiles files, string? tag, string displayName)
    {
        _files = files;
        _tag = string.IsNullOrEmpty(tag) ? null : tag;
        DisplayName = displayName;
    }

    public string DisplayName { get; }

    public async Task<ManifestDocument> GetRootManifestAsync(CancellationToken cancellationToken)
    {
        byte[] indexBytes = await ReadFileAsync("index.json", cancellationToken).ConfigureAwait(false);
        ManifestDocument index = ManifestDocument.Parse(indexBytes, MediaTypes.OciIndex, DisplayName + " index.json");
        if (!index.IsIndex)
        {
            throw Errors.MalformedImageDocument(DisplayName + " index.json", "it is not an image index");
        }
        IReadOnlyList<Descriptor> entries = index.Index!.Manifests;
        if (_tag is null)
        {
            // One image: that one. Several: the layout's index.json is itself the index to choose from.
            return entries.Count == 1 ? await GetManifestAsync(entries[0], cancellationToken).ConfigureAwait(false) : index;
        }
        Descriptor? tagged = entries.FirstOrDefault(m => m.Annotations?.GetValueOrDefault(RefNameAnnotation) is string name
            && (name == _tag || name.EndsWith(":" + _tag, StringComparison.Ordinal)));
        if (tagged is null)
        {
            string known = string.Join(", ", entries.Select(m => m.Annotations?.GetValueOrDefault(RefNameAnnotation)).OfType<string>());
            throw Errors.TagNotInSource(_tag, DisplayName, known.Length == 0 ? "(none)" : known);
        }
        return await GetManifestAsync(tagged, cancellationToken).ConfigureAwait(false);
    }

    public async Task<ManifestDocument> GetManifestAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        byte[] bytes = await ReadFileAsync(BlobPath(descriptor.Digest), cancellationToken).ConfigureAwait(false);
        ManifestDocument doc = ManifestDocument.Parse(bytes, descriptor.MediaType, $"{DisplayName} {descriptor.Digest}");
        if (doc.Digest != descriptor.Digest)
        {
            throw Errors.DigestMismatch(descriptor.Digest, DisplayName, $"content whose digest is {doc.Digest}");
        }
        return doc;
    }

    public Task<Stream> OpenBlobAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        Task.FromResult(_files.TryOpen(BlobPath(descriptor.Digest)) ?? throw Errors.MissingInImageSource(descriptor.Digest, DisplayName));

    public ValueTask DisposeAsync()
    {
        _files.Dispose();
        return ValueTask.CompletedTask;
    }

    private static string BlobPath(string digest) => "blobs/sha256/" + OciDigest.Hex(digest);

    private async Task<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        await using Stream stream = _files.TryOpen(path) ?? throw Errors.MissingInImageSource(path, DisplayName);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }
}
