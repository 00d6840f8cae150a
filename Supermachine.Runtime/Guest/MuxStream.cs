using Supermachine.Diagnostics;

namespace Supermachine.Guest;

/// <summary>What a stream needs from its connection: a way to send frames, and to be forgotten once finished.</summary>
internal interface IMuxOwner
{
    ValueTask SendFrameAsync(FrameType type, byte channel, uint stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);

    void Forget(MuxStream stream);
}

/// <summary>
/// One multiplexed stream of an <see cref="AgentConnection"/>: its inbound channels (1 and 2),
/// its send window, and the OPEN acknowledgement and EXIT that end it. Both windows are bounded
/// against a hostile guest: inbound bytes never exceed the credit the host granted (the guest
/// sending past it is a violation), and the guest can never grant the host more credit than the
/// protocol's window, since it only returns credit for bytes the host sent.
/// </summary>
internal sealed class MuxStream
{
    private readonly IMuxOwner _connection;
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

    public MuxStream(IMuxOwner connection, uint id)
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

    /// <summary>Called by the connection's reader, one frame at a time, its header already validated.</summary>
    public void OnFrame(in Frame frame)
    {
        switch (frame.Type)
        {
            case FrameType.Open:
                _opened.TrySetResult(frame.Payload.ToArray());
                break;
            case FrameType.Data:
                if (Interlocked.Add(ref _recvWindow, -frame.Payload.Length) < 0)
                {
                    throw new AgentProtocolException("DATA beyond the window the host granted");
                }
                _inbound[frame.Channel - 1].Enqueue(frame.Payload.Span);
                break;
            case FrameType.Close:
                _inbound[frame.Channel - 1].Complete();
                break;
            case FrameType.Window:
            {
                uint increment = AgentFraming.ParseWindow(frame.Payload.Span);
                lock (_windowLock)
                {
                    _sendWindow += increment;
                    if (_sendWindow > AgentProtocol.InitialWindow)
                    {
                        // Credit only comes back for bytes the host sent: more is inflation.
                        throw new AgentProtocolException($"WINDOW credit beyond the {AgentProtocol.InitialWindow}-byte window");
                    }
                    _windowWaiter?.TrySetResult();
                    _windowWaiter = null;
                }
                break;
            }
            case FrameType.Exit:
            {
                ExitStatus status = AgentFraming.ParseExit(frame.Payload.Span);
                _opened.TrySetResult([]);
                _inbound[0].Complete();
                _inbound[1].Complete();
                _exit.TrySetResult(status);
                WakeWriters();
                _connection.Forget(this);
                break;
            }
            case FrameType.Error:
                Fault(AgentFraming.ParseError(frame.Payload.Span));
                break;
            default:
                throw new AgentProtocolException($"{frame.Type} on stream {Id}");
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
