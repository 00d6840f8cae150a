using System.Text.Json;
using Supermachine.Oci.References;
using Supermachine.Oci.Storage;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// The step cache of Dockerfile builds: for each step cache key (see
/// <see cref="Context.StepCacheKey"/>) the layer chain its result is, as a small JSON file under
/// <c>CACHE/dockerfile/steps</c>; the layers themselves live in the content store. Entries are
/// written by rename, so a killed build leaves either the whole entry or none, and an entry whose
/// layers went missing counts as absent.
/// </summary>
internal sealed class StepResultStore
{
    private readonly ContentStore _store;
    private readonly string _directory;

    public StepResultStore(ContentStore store)
    {
        _store = store;
        _directory = store.Layout.Dockerfile("steps");
    }

    public LayerChain? TryGet(string cacheKey)
    {
        string path = PathFor(cacheKey);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            LayerChain? chain = JsonSerializer.Deserialize<LayerChain>(File.ReadAllBytes(path));
            return chain is not null && chain.Layers.All(l => _store.Contains(l.Digest)) ? chain : null;
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            // A damaged entry is a cache miss; the step runs again and rewrites it.
            return null;
        }
    }

    public void Put(string cacheKey, LayerChain chain)
    {
        Directory.CreateDirectory(_directory);
        string path = PathFor(cacheKey);
        string temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(chain));
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private string PathFor(string cacheKey) => Path.Combine(_directory, OciDigest.Hex(cacheKey) + ".json");
}
