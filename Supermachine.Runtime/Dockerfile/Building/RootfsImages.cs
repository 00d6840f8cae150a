using Supermachine.FileSystem;
using Supermachine.Oci.Layers;
using Supermachine.Oci.Storage;
using Supermachine.Squashfs;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// The squashfs image of a build state: what a build VM boots on, and what COPY --from and the
/// destination checks of COPY/WORKDIR read. Written once per state by flattening its chain
/// (deterministic, so concurrent builds that race write the same bytes) and deleted with the build.
/// </summary>
internal sealed class RootfsImages(ContentStore store, Action<string> progress) : IDisposable
{
    private readonly string _directory = Path.Combine(store.Root, "dockerfile", "rootfs");
    private readonly Dictionary<string, string> _written = new(StringComparer.Ordinal);

    public async Task<string> GetAsync(LayerChain chain, CancellationToken cancellationToken)
    {
        if (_written.TryGetValue(chain.Id, out string? existing))
        {
            return existing;
        }
        Directory.CreateDirectory(_directory);
        string path = Path.Combine(_directory, ScratchFiles.Name("rootfs", chain.Id + ".sqfs"));
        progress($"writing the root filesystem of the build state ({chain.Layers.Count} layers)");
        var flattener = new LayerFlattener(chain.ToLayerInputs(store), "the build state", new LayerFlattenerOptions { Warning = m => progress("warning: " + m) });
        await SquashfsWriter.WriteAsync(flattener.FlattenAsync(cancellationToken), path, null, cancellationToken).ConfigureAwait(false);
        _written[chain.Id] = path;
        return path;
    }

    public void Dispose()
    {
        foreach (string path in _written.Values)
        {
            File.Delete(path);
        }
        _written.Clear();
    }
}
