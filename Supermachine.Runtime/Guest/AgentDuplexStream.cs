using Supermachine.Guest;

namespace Supermachine;

/// <summary>
/// A <see cref="Stream"/> over one channel of an agent stream: reads come from the guest
/// (channel 1 or 2), writes go to it (channel 0) under flow control. Disposing half-closes the
/// writing side; <see cref="CompleteWritesAsync"/> does that alone, like a socket shutdown.
/// </summary>
public sealed class AgentDuplexStream : Stream
{
    private readonly MuxStream _stream;
    private readonly int _inbound;
    private readonly bool _canWrite;
    private bool _disposed;

    internal AgentDuplexStream(MuxStream stream, int inbound, bool canWrite)
    {
        _stream = stream;
        _inbound = inbound;
        _canWrite = canWrite;
    }

    public override bool CanRead => _inbound != 0 && !_disposed;

    public override bool CanWrite => _canWrite && !_disposed;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_inbound == 0)
        {
            throw new NotSupportedException("This stream only writes.");
        }
        return _stream.Inbound(_inbound).ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_canWrite)
        {
            throw new NotSupportedException("This stream only reads.");
        }
        return _stream.SendAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Tells the guest no more data comes (end of input for it), keeping the reading side open.</summary>
    public ValueTask CompleteWritesAsync(CancellationToken cancellationToken = default) => _stream.CompleteWritesAsync(cancellationToken);

    /// <summary>Drops the connection on both sides at once.</summary>
    public ValueTask AbortAsync() => _stream.AbortAsync();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_canWrite)
        {
            try
            {
                await _stream.CompleteWritesAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The stream or the connection already ended: nothing left to close.
            }
        }
        // A port-forward connection the reader left unfinished is torn down in the guest too.
        if (_inbound == 1 && _canWrite)
        {
            if (!_stream.Inbound(1).IsCompleted)
            {
                await _stream.AbortAsync().ConfigureAwait(false);
            }
            _stream.Release();
        }
    }
}
