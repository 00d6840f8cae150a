using System.Collections.Concurrent;
using Supermachine.Bake;
using Supermachine.Images;

namespace Supermachine.Tests.Infrastructure;

/// <summary>
/// Images baked once per test run and shared by every test class that asks for the same name: a
/// heavy image (PostgreSQL, MariaDB, a JVM) takes minutes to bake under TCG, so the first class to
/// need it bakes it through the product's bake path (ImageBaker, as the SDK and the CLI do) and the
/// others await that bake. A failed bake fails every class that shares it, without a second try.
/// The bakes live in one temporary directory removed when the test process exits.
/// </summary>
internal static class SharedBakes
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<MicroVmImage>>> Bakes = new(StringComparer.Ordinal);

    private static readonly Lazy<string> Root = new(() =>
    {
        string root = Directory.CreateTempSubdirectory("sm-shared-bakes-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A guest still shutting down may hold a file; the temporary directory goes with the machine.
            }
        };
        return root;
    });

    /// <summary>
    /// The image <paramref name="name"/> baked from <paramref name="reference"/> with the item
    /// metadata <paramref name="metadata"/> gives (Name is <paramref name="name"/>); baked on the
    /// first call, the same task afterwards. Names are unique per run: the same name must always
    /// come with the same metadata.
    /// </summary>
    public static Task<MicroVmImage> GetAsync(string name, string reference, Func<string, string?> metadata, Action<string>? detail = null) =>
        Bakes.GetOrAdd(name, _ => new Lazy<Task<MicroVmImage>>(() => BakeAsync(name, reference, metadata, detail))).Value;

    private static async Task<MicroVmImage> BakeAsync(string name, string reference, Func<string, string?> metadata, Action<string>? detail)
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(reference, key => key == "Name" ? name : metadata(key));
        StoredImage baked = await ImageBaker.BakeAsync(request, Path.Combine(Root.Value, name), new BakeOptions
        {
            CacheDirectory = Path.Combine(Root.Value, "cache"),
            // Heavy servers under TCG on a loaded machine: a slow start is not a failure.
            BootTimeout = TimeSpan.FromMinutes(10),
            ReadyTimeout = TimeSpan.FromMinutes(15),
            Detail = detail,
        });
        return new MicroVmImage(baked);
    }
}
