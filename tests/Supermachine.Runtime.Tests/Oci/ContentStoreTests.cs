using Supermachine.Diagnostics;
using Supermachine.Oci.References;
using Supermachine.Oci.Storage;

namespace Supermachine.Tests.Oci;

public sealed class ContentStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-store-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Verified_blobs_are_stored_by_digest_and_wrong_bytes_never_are()
    {
        var store = new ContentStore(_root);
        byte[] content = "layer bytes"u8.ToArray();
        string digest = OciDigest.Compute(content);
        string path = await store.EnsureAsync(digest, content.Length, _ => Task.FromResult<Stream>(new MemoryStream(content)), "test");
        Assert.Equal(Path.Combine(_root, "blobs", "sha256", OciDigest.Hex(digest)), path);
        Assert.Equal(content, await File.ReadAllBytesAsync(path));

        string other = OciDigest.Compute("other"u8);
        var mismatch = await Assert.ThrowsAsync<SupermachineException>(() => store.EnsureAsync(other, content.Length, _ => Task.FromResult<Stream>(new MemoryStream(content)), "test"));
        Assert.Equal("SM2007", mismatch.Code);
        var longer = await Assert.ThrowsAsync<SupermachineException>(() => store.EnsureAsync(other, 3, _ => Task.FromResult<Stream>(new MemoryStream(content)), "test"));
        Assert.Equal("SM2007", longer.Code);
        Assert.False(store.Contains(other));
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, "tmp")));
        Assert.Equal("SM2003", Assert.Throws<SupermachineException>(() => store.GetBlobPath("sha256:../../etc/passwd")).Code);
    }

    [Fact]
    public async Task Concurrent_pulls_of_one_blob_download_it_once_and_wait_for_each_other()
    {
        var store = new ContentStore(_root);
        byte[] content = new byte[1 << 20];
        Random.Shared.NextBytes(content);
        string digest = OciDigest.Compute(content);
        int opened = 0;
        async Task<Stream> SlowOpen(CancellationToken ct)
        {
            Interlocked.Increment(ref opened);
            await Task.Delay(300, ct);
            return new MemoryStream(content);
        }
        // A second store object on the same directory stands for a second process: the lock is a file lock.
        var tasks = Enumerable.Range(0, 6).Select(i => (i % 2 == 0 ? store : new ContentStore(_root)).EnsureAsync(digest, content.Length, SlowOpen, "test")).ToArray();
        string[] paths = await Task.WhenAll(tasks);
        Assert.Equal(1, opened);
        Assert.Single(paths.Distinct());
        Assert.Equal(content, await File.ReadAllBytesAsync(paths[0]));
    }

    [Supermachine.Tests.Infrastructure.RequiresToolFact("flock")]
    public async Task The_lock_is_an_OS_file_lock_other_processes_see()
    {
        var store = new ContentStore(_root);
        byte[] content = "x"u8.ToArray();
        string digest = OciDigest.Compute(content);
        string lockFile = Path.Combine(_root, "locks", OciDigest.Hex(digest) + ".lock");
        int whileHeld = -1;
        await store.EnsureAsync(digest, 1, _ =>
        {
            using var probe = System.Diagnostics.Process.Start("flock", ["-n", lockFile, "true"])!;
            probe.WaitForExit();
            whileHeld = probe.ExitCode;
            return Task.FromResult<Stream>(new MemoryStream(content));
        }, "test");
        Assert.Equal(1, whileHeld); // another process could not take it
        using var after = System.Diagnostics.Process.Start("flock", ["-n", lockFile, "true"])!;
        after.WaitForExit();
        Assert.Equal(0, after.ExitCode);
    }

    [Fact]
    public async Task Import_names_content_by_its_digest()
    {
        var store = new ContentStore(_root);
        var (digest, size) = await store.ImportAsync(new MemoryStream("abc"u8.ToArray()));
        Assert.Equal(OciDigest.Compute("abc"u8), digest);
        Assert.Equal(3, size);
        Assert.True(store.Contains(digest));
    }
}
