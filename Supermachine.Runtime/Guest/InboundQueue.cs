namespace Supermachine.Guest;

/// <summary>
/// Bytes received on one channel of a stream, in arrival order, copied into one buffer. The
/// window the host grants bounds what it holds (credit returns only as a reader takes bytes out),
/// and copying, rather than keeping each frame, bounds its memory too: a guest sending its
/// window as one-byte frames costs the window's bytes, not an object per frame. The buffer
/// grows by doubling up to the window and no further.
/// </summary>
internal sealed class InboundQueue
{
    private const int MinimumCapacity = 4096;

    private readonly MuxStream _owner;
    private readonly object _lock = new();
    private byte[] _buffer = [];
    private int _start;
    private int _end;
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
                return _completed && _start == _end;
            }
        }
    }

    /// <summary>Bytes received and not read yet.</summary>
    public int Buffered
    {
        get
        {
            lock (_lock)
            {
                return _end - _start;
            }
        }
    }

    /// <summary>The memory the buffer holds, whatever is in it.</summary>
    public int Capacity
    {
        get
        {
            lock (_lock)
            {
                return _buffer.Length;
            }
        }
    }

    public void Enqueue(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (_completed)
            {
                throw new AgentProtocolException("DATA after CLOSE");
            }
            int live = _end - _start;
            if (live + data.Length > AgentProtocol.InitialWindow)
            {
                // The stream's window check comes first; this holds for any caller.
                throw new AgentProtocolException("DATA beyond the window the host granted");
            }
            if (_buffer.Length - _end < data.Length)
            {
                byte[] target = _buffer;
                if (_buffer.Length - live < data.Length)
                {
                    int doubled = Math.Min(Math.Max(2 * _buffer.Length, MinimumCapacity), AgentProtocol.InitialWindow);
                    target = new byte[Math.Max(live + data.Length, doubled)];
                }
                _buffer.AsSpan(_start, live).CopyTo(target);
                _buffer = target;
                _start = 0;
                _end = live;
            }
            data.CopyTo(_buffer.AsSpan(_end));
            _end += data.Length;
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
            Task wait;
            int n;
            bool drained;
            lock (_lock)
            {
                if (_end > _start)
                {
                    n = Math.Min(destination.Length, _end - _start);
                    _buffer.AsSpan(_start, n).CopyTo(destination.Span);
                    _start += n;
                    drained = _start == _end;
                    if (drained)
                    {
                        _start = _end = 0;
                    }
                    wait = Task.CompletedTask;
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
                    n = 0;
                    drained = false;
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
