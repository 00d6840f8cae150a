using Supermachine.Diagnostics;

namespace Supermachine.Guest;

/// <summary>
/// One multiplexed stream of an <see cref="AgentConnection"/>: its inbound channels (1 and 2),
/// its send window, and the OPEN acknowledgement and EXIT that end it. Inbound memory is bounded
/// by the window the host grants: the guest sending past it is a protocol violation.
/// </summary>
internal sealed class MuxStream
{
    private readonly AgentConnection _connection;
    private readonly InboundQueue[] _inbound;
    private readonly TaskCompletionSource<byte[]> _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ExitStatus> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _windowLock = new();
    private long _sendWindow = AgentProtocol.InitialWindow;
    private TaskCompletionSource? _windowWaiter;
    private long _recvWindow = AgentProtocol.InitialWindow;
    private long _owed;
    private int _closeSent;
    private Exception? _fault;

    public MuxStream(AgentConnection connection, uint id)
    {
        _connection = connection;
        Id = id;
        _inbound = [new InboundQueue(this), new InboundQueue(this)];
    }

    public uint Id { get; }

    /// <summary>The payload of the agent's OPEN acknowledgement.</summary>
    public Task<byte[]> Opened => _opened.Task;

    public Task<ExitStatus> Exited => _exit.Task;

    public bool IsFinished => _exit.Task.IsCompleted || _fault is not null;

    /// <summary>Channel 1 (stdout, or the connection's data) or 2 (stderr).</summary>
    public InboundQueue Inbound(int channel) => _inbound[channel - 1];

    /// <summary>Called by the connection's reader, one frame at a time.</summary>
    public void OnFrame(in Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Open:
                _opened.TrySetResult(frame.Payload);
                break;
            case FrameType.Data:
                if (frame.Channel is not (1 or 2))
                {
                    throw new AgentProtocolException($"DATA on channel {frame.Channel}");
                }
                if (Interlocked.Add(ref _recvWindow, -frame.Payload.Length) < 0)
                {
                    throw new AgentProtocolException("DATA beyond the window the host granted");
                }
                _inbound[frame.Channel - 1].Enqueue(frame.Payload);
                break;
            case FrameType.Close:
                if (frame.Channel is not (1 or 2))
                {
                    throw new AgentProtocolException($"CLOSE on channel {frame.Channel}");
                }
                _inbound[frame.Channel - 1].Complete();
                break;
            case FrameType.Window:
            {
                var r = new PayloadReader(frame.Payload);
                uint increment = r.U32();
                lock (_windowLock)
                {
                    _sendWindow += increment;
                    if (_sendWindow > 1L << 40)
                    {
                        throw new AgentProtocolException("a window larger than the protocol allows");
                    }
                    _windowWaiter?.TrySetResult();
                    _windowWaiter = null;
                }
                break;
            }
            case FrameType.Exit:
            {
                var r = new PayloadReader(frame.Payload);
                var status = new ExitStatus((int)r.U32(), (int)r.U32(), r.U32());
                _opened.TrySetResult([]);
                _inbound[0].Complete();
                _inbound[1].Complete();
                _exit.TrySetResult(status);
                WakeWriters();
                _connection.Forget(this);
                break;
            }
            case FrameType.Error:
            {
                var r = new PayloadReader(frame.Payload);
                int errno = (int)r.U32();
                string message = r.String();
                Fault(new AgentOperationException(errno, message));
                break;
            }
            default:
                throw new AgentProtocolException($"frame type {frame.Type} from the guest");
        }
    }

    private void WakeWriters()
    {
        lock (_windowLock)
        {
            _windowWaiter?.TrySetResult();
            _windowWaiter = null;
        }
    }

    /// <summary>Ends the stream with an error: every waiter and reader sees it.</summary>
    public void Fault(Exception error)
    {
        Interlocked.CompareExchange(ref _fault, error, null);
        _opened.TrySetException(error);
        _exit.TrySetException(error);
        _inbound[0].Fault(error);
        _inbound[1].Fault(error);
        lock (_windowLock)
        {
            _windowWaiter?.TrySetException(error);
            _windowWaiter = null;
        }
        _ = _opened.Task.Exception;
        _ = _exit.Task.Exception;
        _connection.Forget(this);
    }

    /// <summary>The host is done with a stream that ends without EXIT (a port-forward connection).</summary>
    public void Release() => _connection.Forget(this);

    /// <summary>Sends <paramref name="data"/> on channel 0, waiting for window credit as needed.</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            Task wait;
            int n;
            lock (_windowLock)
            {
                if (_fault is not null)
                {
                    throw _fault;
                }
                if (_exit.Task.IsCompleted)
                {
                    // The guest freed the stream: no credit will come, as a pipe with no reader.
                    throw new IOException("The guest end of the stream has finished; it takes no more input.");
                }
                if (Volatile.Read(ref _closeSent) != 0)
                {
                    throw new InvalidOperationException("Writes were already completed on this stream.");
                }
                if (_sendWindow > 0)
                {
                    n = (int)Math.Min(Math.Min(_sendWindow, AgentProtocol.MaxPayload), data.Length);
                    _sendWindow -= n;
                    wait = Task.CompletedTask;
                }
                else
                {
                    n = 0;
                    _windowWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    wait = _windowWaiter.Task;
                }
            }
            if (n == 0)
            {
                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            await _connection.SendFrameAsync(FrameType.Data, 0, Id, data[..n], cancellationToken).ConfigureAwait(false);
            data = data[n..];
        }
    }

    /// <summary>Half-close: the guest sees end of input on channel 0. Sent once.</summary>
    public async ValueTask CompleteWritesAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _closeSent, 1) == 0 && _fault is null)
        {
            await _connection.SendFrameAsync(FrameType.Close, 0, Id, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask SignalAsync(int signal, CancellationToken cancellationToken = default)
    {
        byte[] p = new PayloadWriter().U32((uint)signal).ToArray();
        return _connection.SendFrameAsync(FrameType.Signal, 0, Id, p, cancellationToken);
    }

    /// <summary>Tears the stream down on both sides (kills an exec, drops a connection).</summary>
    public async ValueTask AbortAsync()
    {
        if (IsFinished)
        {
            return;
        }
        Fault(new ObjectDisposedException("agent stream", "The stream was aborted by the host."));
        try
        {
            await _connection.SendFrameAsync(FrameType.Abort, 0, Id, ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SupermachineException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection is gone: so is the stream.
        }
    }

    /// <summary>A reader took <paramref name="count"/> bytes: give the guest that much credit back, in batches.</summary>
    internal async ValueTask ConsumedAsync(int count, bool drained)
    {
        long owed = Interlocked.Add(ref _owed, count);
        if (owed == 0 || (owed < AgentProtocol.InitialWindow / 4 && !drained))
        {
            return;
        }
        owed = Interlocked.Exchange(ref _owed, 0);
        if (owed == 0 || IsFinished)
        {
            return;
        }
        Interlocked.Add(ref _recvWindow, owed);
        byte[] p = new PayloadWriter().U32((uint)owed).ToArray();
        try
        {
            await _connection.SendFrameAsync(FrameType.Window, 0, Id, p, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SupermachineException)
        {
            // The reader will see the connection's fault on its next read.
        }
    }
}

/// <summary>How a stream ended: exit code, terminating signal (0 if none) and flags.</summary>
internal readonly record struct ExitStatus(int Code, int Signal, uint Flags);

/// <summary>
/// Bytes received on one channel of a stream, in arrival order. Not bounded itself: the window
/// the host grants bounds it, and credit returns only as a reader takes bytes out.
/// </summary>
internal sealed class InboundQueue
{
    private readonly MuxStream _owner;
    private readonly Queue<byte[]> _segments = new();
    private readonly object _lock = new();
    private ReadOnlyMemory<byte> _current;
    private bool _completed;
    private Exception? _fault;
    private TaskCompletionSource? _waiter;

    public InboundQueue(MuxStream owner) => _owner = owner;

    /// <summary>The guest closed this channel and every byte was read.</summary>
    public bool IsCompleted
    {
        get
        {
            lock (_lock)
            {
                return _completed && _segments.Count == 0 && _current.IsEmpty;
            }
        }
    }

    public void Enqueue(byte[] data)
    {
        lock (_lock)
        {
            if (_completed)
            {
                throw new AgentProtocolException("DATA after CLOSE");
            }
            _segments.Enqueue(data);
            Wake();
        }
    }

    public void Complete()
    {
        lock (_lock)
        {
            _completed = true;
            Wake();
        }
    }

    public void Fault(Exception error)
    {
        lock (_lock)
        {
            // A channel that already ended keeps its data: the reader gets it and then the end.
            if (!_completed)
            {
                _fault ??= error;
            }
            Wake();
        }
    }

    private void Wake()
    {
        _waiter?.TrySetResult();
        _waiter = null;
    }

    /// <summary>Reads up to <paramref name="destination"/>.Length bytes; 0 at end of channel.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.IsEmpty)
        {
            return 0;
        }
        while (true)
        {
            Task wait = Task.CompletedTask;
            int n = 0;
            bool drained = false;
            lock (_lock)
            {
                if (_current.IsEmpty && _segments.Count > 0)
                {
                    _current = _segments.Dequeue();
                }
                if (!_current.IsEmpty)
                {
                    n = Math.Min(destination.Length, _current.Length);
                    _current.Span[..n].CopyTo(destination.Span);
                    _current = _current[n..];
                    drained = _current.IsEmpty && _segments.Count == 0;
                }
                else if (_fault is not null)
                {
                    throw _fault;
                }
                else if (_completed)
                {
                    return 0;
                }
                else
                {
                    _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    wait = _waiter.Task;
                }
            }
            if (n > 0)
            {
                await _owner.ConsumedAsync(n, drained).ConfigureAwait(false);
                return n;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
