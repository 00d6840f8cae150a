using System.Security.Cryptography;
using Supermachine.Diagnostics;
using Supermachine.Oci.References;
using Supermachine.Locations;

namespace Supermachine.Oci.Storage;

/// <summary>
/// Content-addressed blob store (<c>SUPERMACHINE_CACHE</c>, default <c>~/.cache/supermachine</c>):
/// <c>blobs/sha256/HEX</c> exists only once its bytes were verified against HEX. Writers hold a
/// per-digest lock file (an OS file lock, released by the kernel when a process dies), write to a
/// temp file while hashing, and rename into place: a killed pull leaves at most a temp file, which
/// the next holder of the lock deletes.
/// </summary>
internal sealed class ContentStore
{
    public ContentStore(string? root = null)
    {
        Layout = CacheLayout.At(root);
        Directory.CreateDirectory(BlobDirectory);
        Directory.CreateDirectory(TempDirectory);
        Directory.CreateDirectory(LockDirectory);
    }

    public CacheLayout Layout { get; }

    public string Root => Layout.Root;

    private string BlobDirectory => Layout.Blobs;
    private string TempDirectory => Layout.BlobTemp;
    private string LockDirectory => Layout.Locks;

    public string GetBlobPath(string digest) => Path.Combine(BlobDirectory, OciDigest.Hex(digest));

    public bool Contains(string digest) => File.Exists(GetBlobPath(digest));

    public Stream OpenRead(string digest) =>
        new FileStream(GetBlobPath(digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

    public async Task<byte[]> ReadAllBytesAsync(string digest, CancellationToken cancellationToken = default) =>
        await File.ReadAllBytesAsync(GetBlobPath(digest), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Makes sure the blob <paramref name="digest"/> is present, calling <paramref name="open"/> only if
    /// it is not (once per store across processes: others wait on the lock and then find it).
    /// The bytes are verified against the digest and, when known (&gt;= 0), <paramref name="expectedSize"/>.
    /// </summary>
    public async Task<string> EnsureAsync(
        string digest,
        long expectedSize,
        Func<CancellationToken, Task<Stream>> open,
        string source,
        IProgress<long>? bytesWritten = null,
        CancellationToken cancellationToken = default)
    {
        string final = GetBlobPath(digest);
        if (File.Exists(final))
        {
            return final;
        }
        await using FileStream lockHandle = await AcquireLockAsync(digest, cancellationToken).ConfigureAwait(false);
        if (File.Exists(final))
        {
            return final;
        }
        string hex = OciDigest.Hex(digest);
        string temp = Path.Combine(TempDirectory, hex + ".partial");
        File.Delete(temp); // left by a pull that died while holding this lock
        try
        {
            await using (Stream input = await open(cancellationToken).ConfigureAwait(false))
            await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                byte[] buffer = new byte[1 << 16];
                long total = 0;
                int n;
                while ((n = await input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    total += n;
                    if (expectedSize >= 0 && total > expectedSize)
                    {
                        throw Errors.DigestMismatch(digest, source, $"more than the {expectedSize} bytes its descriptor declares");
                    }
                    hash.AppendData(buffer, 0, n);
                    await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                    bytesWritten?.Report(total);
                }
                if (expectedSize >= 0 && total != expectedSize)
                {
                    throw Errors.DigestMismatch(digest, source, $"{total} bytes where its descriptor declares {expectedSize} (truncated)");
                }
                string actual = OciDigest.FromHash(hash.GetHashAndReset());
                if (actual != digest)
                {
                    throw Errors.DigestMismatch(digest, source, $"content whose digest is {actual}");
                }
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                output.Flush(flushToDisk: true);
            }
            File.Move(temp, final, overwrite: true);
            return final;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// Stores content whose digest is not known in advance (docker-save layers are named by layer
    /// id, not digest): hashes while copying to a unique temp file, then renames it under its digest.
    /// </summary>
    public async Task<(string Digest, long Size)> ImportAsync(Stream content, CancellationToken cancellationToken = default)
    {
        string temp = Path.Combine(TempDirectory, "import-" + Guid.NewGuid().ToString("N") + ".partial");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                byte[] buffer = new byte[1 << 16];
                int n;
                while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                    total += n;
                }
                output.Flush(flushToDisk: true);
            }
            string digest = OciDigest.FromHash(hash.GetHashAndReset());
            await AdoptAsync(temp, digest, cancellationToken).ConfigureAwait(false);
            return (digest, total);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// As <see cref="ImportAsync(Stream, CancellationToken)"/> for content a producer writes (a tar
    /// being built, a guest's export), which may seek back in what it wrote: written once to the
    /// temp file, hashed from there, and renamed under its digest.
    /// </summary>
    public async Task<(string Digest, long Size)> ImportAsync(Func<Stream, CancellationToken, Task> write, CancellationToken cancellationToken = default)
    {
        string temp = Path.Combine(TempDirectory, "import-" + Guid.NewGuid().ToString("N") + ".partial");
        try
        {
            await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                await write(output, cancellationToken).ConfigureAwait(false);
                output.Flush(flushToDisk: true);
            }
            string digest;
            long size;
            await using (var written = new FileStream(temp, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
            {
                digest = OciDigest.FromHash(await SHA256.HashDataAsync(written, cancellationToken).ConfigureAwait(false));
                size = written.Length;
            }
            await AdoptAsync(temp, digest, cancellationToken).ConfigureAwait(false);
            return (digest, size);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    // A finished temp file becomes the blob, unless another writer got there first.
    private async Task AdoptAsync(string temp, string digest, CancellationToken cancellationToken)
    {
        await using (await AcquireLockAsync(digest, cancellationToken).ConfigureAwait(false))
        {
            if (!File.Exists(GetBlobPath(digest)))
            {
                File.Move(temp, GetBlobPath(digest));
            }
        }
    }

    /// <summary>Stores <paramref name="content"/> (small documents: manifests, configs) under its own digest; returns the blob's path.</summary>
    public Task<string> PutAsync(byte[] content, CancellationToken cancellationToken = default) =>
        EnsureAsync(OciDigest.Compute(content), content.Length, _ => Task.FromResult<Stream>(new MemoryStream(content, writable: false)), "memory", null, cancellationToken);

    private Task<FileStream> AcquireLockAsync(string digest, CancellationToken cancellationToken) =>
        FileLock.AcquireAsync(Path.Combine(LockDirectory, OciDigest.Hex(digest) + ".lock"), cancellationToken);
}
