using Supermachine.Tests.Infrastructure;
using Supermachine.FileSystem;
using Supermachine.Oci;
using Supermachine.Oci.Layers;
using Supermachine.Oci.Registry;
using Supermachine.Oci.Storage;

namespace Supermachine.Tests.Oci;

/// <summary>A fresh content store and output directory per test, and the pull → flatten → compare steps.</summary>
public sealed class OciScratch : IDisposable
{
    public OciScratch()
    {
        Root = Directory.CreateTempSubdirectory("sm-oci-test-").FullName;
        Store = new ContentStore(Path.Combine(Root, "cache"));
    }

    public string Root { get; }

    public ContentStore Store { get; }

    public List<string> Warnings { get; } = [];

    public ImagePuller Puller(RegistryOptions? options = null) =>
        new(Store, new RegistryClient(options ?? new RegistryOptions { Credentials = new NoCredentials(), RetryBaseDelay = TimeSpan.FromMilliseconds(20), MaxAttempts = 3 }));

    /// <summary>Flattens <paramref name="image"/> into a new directory under the scratch root and returns it.</summary>
    public async Task<string> WriteRootfsAsync(PulledImage image, string name, LayerFlattenerOptions? options = null)
    {
        string dir = Path.Combine(Root, name);
        var flattener = LayerFlattener.For(image, options ?? new LayerFlattenerOptions { Warning = Warn });
        // Compared with umoci, which keeps device nodes and setuid bits: so does this writer here.
        await DirectoryTreeWriter.WriteAsync(flattener.FlattenAsync(), dir, new DirectoryTreeWriterOptions { Warning = Warn, PreserveDevices = true });
        return dir;
    }

    /// <summary>umoci's own extraction of a tag of a layout, the reference the flattener is compared with.</summary>
    public string UmociUnpack(string layout, string tag)
    {
        string bundle = Path.Combine(Root, "umoci-" + tag + "-" + Guid.NewGuid().ToString("N")[..6]);
        ProcessRunner.Run("umoci", ["unpack", "--image", $"{layout}:{tag}", bundle]);
        return Path.Combine(bundle, "rootfs");
    }

    private void Warn(string message)
    {
        lock (Warnings)
        {
            Warnings.Add(message);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Anonymous: tests never read the machine's Docker config unless they mean to.</summary>
public sealed class NoCredentials : IRegistryCredentialProvider
{
    public Task<RegistryCredential?> GetAsync(string registry, CancellationToken cancellationToken) => Task.FromResult<RegistryCredential?>(null);
}
