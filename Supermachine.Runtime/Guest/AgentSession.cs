using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Supermachine.Diagnostics;

namespace Supermachine.Guest;

/// <summary>
/// The session half of an <see cref="AgentConnection"/>: the channel, the hello, the reader that
/// routes the guest's frames to their streams, and the writer every stream sends through. The
/// guest is untrusted: a malformed frame fails the connection with SM3002, a closed channel with
/// SM3003, a guest that stops reading with SM3021, and a fault of the reader itself with SM3023.
/// Whatever arrives, every open stream ends with a coded error and the host process carries on.
/// </summary>
internal sealed class AgentSession : IMuxOwner
{
    private readonly ConcurrentDictionary<uint, MuxStream> _streams = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private Link? _link;
    private int _nextId;
    private bool _disposed;

    private AgentSession(AgentConnectionOptions options)
    {
        // Timers take at most int.MaxValue milliseconds; anything longer is as good as forever.
        TimeSpan timeout = options.OperationTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : timeout, TimeSpan.Zero, nameof(options));
        Options = timeout.TotalMilliseconds >= int.MaxValue ? options with { OperationTimeout = Timeout.InfiniteTimeSpan } : options;
    }

    public AgentConnectionOptions Options { get; }

    /// <summary>What the agent reported in the last hello.</summary>
    public AgentInfo Info { get; private set; } = new(0, "", false, false, false);

    /// <summary>Says hello on <paramref name="channel"/> and starts reading.</summary>
    public static async Task<AgentSession> ConnectAsync(Stream channel, AgentConnectionOptions options, CancellationToken cancellationToken)
    {
        var session = new AgentSession(options);
        await session.StartAsync(channel, flushPartialFrame: false, cancellationToken).ConfigureAwait(false);
        return session;
    }

    /// <summary>Switches to a new channel to the same agent; streams of the old one fail with SM3003.</summary>
    public async Task ReconnectAsync(Stream channel, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await EndAsync(Diagnostic.Error("SM3003", "the host reconnected; streams of the previous connection were reset")).ConfigureAwait(false);
        await StartAsync(channel, flushPartialFrame: true, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await EndAsync(new ObjectDisposedException(nameof(AgentConnection))).ConfigureAwait(false);
    }

    /// <summary>Starts a stream: a new id and an OPEN carrying <paramref name="body"/> (kind and fields).</summary>
    public async Task<MuxStream> OpenStreamAsync(byte[] body, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        uint id = (uint)Interlocked.Increment(ref _nextId);
        var stream = new MuxStream(this, id);
        _streams[id] = stream;
        try
        {
            await SendFrameAsync(FrameType.Open, 0, id, body, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _streams.TryRemove(id, out _);
            throw;
        }
        return stream;
    }

    public void Forget(MuxStream stream) => _streams.TryRemove(new KeyValuePair<uint, MuxStream>(stream.Id, stream));

    public async ValueTask SendFrameAsync(FrameType type, byte channel, uint stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        Link link = _link ?? throw new ObjectDisposedException(nameof(AgentConnection));
        if (link.Fault is { } fault)
        {
            throw fault;
        }
        byte[] frame = new byte[AgentProtocol.HeaderSize + payload.Length];
        AgentProtocol.WriteHeader(frame, type, channel, stream, payload.Length);
        payload.CopyTo(frame.AsMemory(AgentProtocol.HeaderSize));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (link.Fault is { } f)
            {
                throw f;
            }
            // Never cancelled half way: a partial frame would desynchronise the channel. A guest
            // that stops reading ends the whole connection instead, which also ends the write.
            Task write = WriteAsync(link.Channel, frame);
            try
            {
                await write.WaitAsync(Options.OperationTimeout, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _ = write.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                throw Fail(link, Diagnostic.Error("SM3021", frame.Length, Options.OperationTimeout));
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw Fail(link, Diagnostic.Error(e, "SM3003", "writing to the guest failed: " + e.Message));
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private static async Task WriteAsync(Stream channel, byte[] frame)
    {
        await channel.WriteAsync(frame, CancellationToken.None).ConfigureAwait(false);
        await channel.FlushAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Ends a link with <paramref name="error"/>: every open stream fails with it.</summary>
    private Exception Fail(Link link, Exception error)
    {
        if (Interlocked.CompareExchange(ref link.Fault, error, null) is { } earlier)
        {
            return earlier;
        }
        try
        {
            link.Channel.Dispose();
        }
        catch (Exception)
        {
            // Closing a broken channel can throw again; the link is over either way.
        }
        if (ReferenceEquals(_link, link))
        {
            foreach (MuxStream s in _streams.Values)
            {
                s.Fault(error);
            }
        }
        return error;
    }

    private async Task EndAsync(Exception reason)
    {
        Link? link = _link;
        if (link is null)
        {
            return;
        }
        Fail(link, reason);
        foreach (MuxStream s in _streams.Values)
        {
            s.Fault(reason);
        }
        try
        {
            await link.Reader.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The reader ends with the channel; its error is the link's fault, already reported.
        }
    }

    private async Task StartAsync(Stream channel, bool flushPartialFrame, CancellationToken cancellationToken)
    {
        byte[] leftover = await HelloAsync(channel, flushPartialFrame, cancellationToken).ConfigureAwait(false);
        var link = new Link(channel);
        _link = link;
        link.Reader = Task.Run(() => ReadLoopAsync(link, leftover), CancellationToken.None);
    }

    /// <summary>
    /// Sends HELLO and scans for the reply carrying our nonce (<see cref="AgentFraming.TryFindHello"/>);
    /// returns what followed the reply. With <paramref name="flushPartialFrame"/> (a restored guest
    /// may hold half a frame of the previous host) a frame's worth of zeros goes first: it completes
    /// any such frame, then fails the magic check, and the agent skips to the HELLO.
    /// </summary>
    private async Task<byte[]> HelloAsync(Stream channel, bool flushPartialFrame, CancellationToken cancellationToken)
    {
        ulong nonce = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8));
        long unixNs = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
        byte[] hello = AgentFraming.HelloFrame(nonce, unixNs);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.HelloTimeout);
        try
        {
            if (flushPartialFrame)
            {
                await channel.WriteAsync(new byte[AgentProtocol.HeaderSize + AgentProtocol.MaxPayload], timeout.Token).AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            await channel.WriteAsync(hello, timeout.Token).AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
            await channel.FlushAsync(timeout.Token).WaitAsync(timeout.Token).ConfigureAwait(false);
            // Holds at most one incomplete candidate (< HeaderSize + HelloReplyMaxSize) between reads.
            byte[] buffer = new byte[16 * 1024];
            int length = 0;
            while (true)
            {
                int n = await channel.ReadAsync(buffer.AsMemory(length), timeout.Token).AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    throw Diagnostic.Error("SM3003", "the channel closed before the agent said hello");
                }
                length += n;
                if (AgentFraming.TryFindHello(buffer.AsSpan(0, length), nonce, out HelloReply reply, out int end, out int keepFrom))
                {
                    if (reply.Version != AgentProtocol.Version)
                    {
                        throw Diagnostic.Error("SM3010", reply.Version, AgentProtocol.Version);
                    }
                    Info = new AgentInfo(reply.Version, reply.AgentVersion, (reply.Flags & AgentProtocol.HelloPid1) != 0,
                        (reply.Flags & AgentProtocol.HelloWorkloadRunning) != 0, (reply.Flags & AgentProtocol.HelloWorkloadExited) != 0);
                    return buffer[end..length];
                }
                buffer.AsSpan(keepFrom, length - keepFrom).CopyTo(buffer);
                length -= keepFrom;
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw Diagnostic.Error("SM3008", Options.HelloTimeout);
        }
        catch (AgentProtocolException e)
        {
            throw Diagnostic.Error(e, "SM3002", e.Message);
        }
        catch (IOException e)
        {
            throw Diagnostic.Error(e, "SM3003", e.Message);
        }
    }

    private async Task ReadLoopAsync(Link link, byte[] leftover)
    {
        var reader = new FrameReader(link.Channel, leftover);
        try
        {
            while (true)
            {
                Frame? next = await reader.ReadAsync().ConfigureAwait(false);
                if (next is not { } frame)
                {
                    Fail(link, Diagnostic.Error("SM3003", "the guest closed it"));
                    return;
                }
                AgentFraming.Route(frame, (uint)Volatile.Read(ref _nextId), _streams);
            }
        }
        catch (AgentProtocolException e)
        {
            Fail(link, Diagnostic.Error(e, "SM3002", e.Message));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            Fail(link, Diagnostic.Error(e, "SM3003", e.Message));
        }
        catch (Exception e)
        {
            // A fault of the host's own reader must not leave the streams waiting forever.
            Fail(link, Diagnostic.Error(e, "SM3023", e.GetType().Name + ": " + e.Message));
        }
    }

    /// <summary>One channel to the agent: the reader on it, and the error that ended it.</summary>
    private sealed class Link(Stream channel)
    {
        public Stream Channel { get; } = channel;

        public Task Reader { get; set; } = Task.CompletedTask;

        public Exception? Fault;
    }
}
