using System.IO.Compression;
using System.Security.Cryptography;
using Supermachine.Compression;
using Supermachine.Diagnostics;

namespace Supermachine.Oci.Layers;

/// <summary>Opens a layer blob as its uncompressed tar stream, choosing gzip, zstd or plain tar by the magic bytes.</summary>
internal static class LayerStreams
{
    public static Stream OpenDecompressed(Stream compressed, long maxBytes, string layerName, string imageName)
    {
        Span<byte> magic = stackalloc byte[4];
        int n = compressed.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        compressed.Seek(-n, SeekOrigin.Current);
        return OpenDecompressed(compressed, magic[..n], maxBytes, layerName, imageName);
    }

    /// <summary>As above for a non-seekable <paramref name="compressed"/> whose first bytes were already peeked at elsewhere.</summary>
    public static Stream OpenDecompressed(Stream compressed, ReadOnlySpan<byte> magic, long maxBytes, string layerName, string imageName)
    {
        Stream decompressed = magic.Length >= 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: false)
            : magic.Length >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd ? new ZstdDecompressionStream(compressed)
            : compressed;
        return new CappedStream(decompressed, maxBytes, layerName, imageName);
    }
}

/// <summary>Fails with SM2013 once more than the cap has been read: the defence against decompression bombs.</summary>
internal sealed class CappedStream(Stream inner, long cap, string layerName, string imageName) : ReadOnlyWrapperStream(inner)
{
    private long _read;

    public long BytesRead => _read;
    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer) => Count(Inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Count(await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Count(int n)
    {
        _read += n;
        if (_read > cap)
        {
            throw Diagnostic.Error("SM2013", layerName, imageName, cap);
        }
        return n;
    }

}

/// <summary>Hashes every byte read through it (and the rest on <see cref="FinishAsync"/>), to check a layer's digest on the way.</summary>
internal sealed class HashingReadStream(Stream inner) : ReadOnlyWrapperStream(inner)
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);


    public override int Read(Span<byte> buffer)
    {
        int n = Inner.Read(buffer);
        _hash.AppendData(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _hash.AppendData(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Reads what the decompressor left unread and returns the digest of the whole stream.</summary>
    public async Task<string> FinishAsync(CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[1 << 16];
        while (await ReadAsync(buffer, cancellationToken).ConfigureAwait(false) > 0)
        {
        }
        return References.OciDigest.FromHash(_hash.GetHashAndReset());
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// Hands a tar member's data to a consumer without letting it close the archive under the reader;
/// a read that fails on malformed input fails with what <paramref name="translate"/> makes of it.
/// </summary>
internal sealed class NonClosingStream(Stream inner, Func<Exception, SupermachineException> translate) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try
        {
            return inner.Read(buffer);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException)
        {
            throw translate(ex);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException)
        {
            throw translate(ex);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
