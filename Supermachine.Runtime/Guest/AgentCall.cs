using System.Buffers;
using Supermachine.Diagnostics;

namespace Supermachine.Guest;

/// <summary>
/// One operation's stream as an operation sees it. Each wait on the guest (acknowledgement,
/// credit, the next bytes, the exit) is bounded by the operation timeout, which fails it with
/// SM3020; the guest refusing the operation (ERROR) becomes the caller's coded error; and a call
/// that did not complete aborts its stream when disposed, so nothing is left running in the guest.
/// </summary>
internal sealed class AgentCall : IAsyncDisposable
{
    private readonly CancellationTokenSource _timer;
    private readonly CancellationToken _caller;
    private readonly TimeSpan _timeout;
    private readonly string _what;
    private readonly Func<Exception, Exception> _refused;
    private bool _completed;

    private AgentCall(MuxStream stream, string what, TimeSpan timeout, Func<Exception, Exception> refused, CancellationToken cancellationToken)
    {
        Stream = stream;
        _what = what;
        _timeout = timeout;
        _refused = refused;
        _caller = cancellationToken;
        _timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    public MuxStream Stream { get; }

    /// <summary>
    /// Opens a stream for an operation. <paramref name="what"/> names it in a timeout
    /// ("read /etc/hosts"); <paramref name="refused"/> turns the guest's refusal into the
    /// operation's coded error; <paramref name="timeout"/> bounds each wait on the guest.
    /// </summary>
    public static async Task<AgentCall> OpenAsync(AgentSession session, byte[] body, string what, TimeSpan timeout, Func<Exception, Exception> refused, CancellationToken cancellationToken)
    {
        MuxStream stream = await session.OpenStreamAsync(body, cancellationToken).ConfigureAwait(false);
        return new AgentCall(stream, what, timeout, refused, cancellationToken);
    }

    /// <summary>The agent's acknowledgement of the OPEN (kind-specific payload).</summary>
    public Task<byte[]> OpenedAsync() => BoundAsync(token => Stream.Opened.WaitAsync(token));

    /// <summary>The EXIT that ends the stream.</summary>
    public Task<ExitStatus> ExitedAsync() => BoundAsync(token => Stream.Exited.WaitAsync(token));

    /// <summary>
    /// Sends data on channel 0 under flow control. Waiting for credit counts as waiting on the
    /// guest; a frame the guest does not read is the session's to time out (SM3021), since a frame
    /// is never cut short.
    /// </summary>
    public Task SendAsync(ReadOnlyMemory<byte> data) => BoundAsync(async token =>
    {
        try
        {
            await Stream.SendAsync(data, token).ConfigureAwait(false);
        }
        catch (IOException e) when (Stream.IsFinished)
        {
            // The guest ended the stream (EXIT) before it took all the data: the operation's coded
            // error, not a raw IOException (found by eng/fuzz.sh session).
            throw _refused(e);
        }
        return true;
    });

    /// <summary>Copies channel 1 to <paramref name="sink"/> (see <see cref="ReadToEndAsync(Func{Memory{byte}, Task{int}}, Stream, ByteBudget?, CancellationToken)"/>).</summary>
    public Task<bool> ReadToEndAsync(Stream sink, ByteBudget? budget) =>
        ReadToEndAsync(buffer => BoundAsync(token => Stream.Inbound(1).ReadAsync(buffer, token).AsTask()), sink, budget, _caller);

    /// <summary>The operation succeeded (or handed its stream on): disposing no longer aborts it.</summary>
    public void Complete() => _completed = true;

    public async ValueTask DisposeAsync()
    {
        _timer.Dispose();
        if (!_completed)
        {
            await Stream.AbortAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The one read-with-limit loop: copies what <paramref name="read"/> yields to
    /// <paramref name="sink"/> until the end of the channel, at most what <paramref name="budget"/>
    /// allows (a budget may be shared, as by a command's stdout and stderr). Returns false when
    /// more came than the budget allowed: what fitted is in the sink, and reading stopped there.
    /// </summary>
    public static async Task<bool> ReadToEndAsync(Func<Memory<byte>, Task<int>> read, Stream sink, ByteBudget? budget, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(AgentProtocol.MaxPayload);
        try
        {
            int n;
            while ((n = await read(buffer.AsMemory(0, AgentProtocol.MaxPayload)).ConfigureAwait(false)) > 0)
            {
                int take = budget?.Take(n) ?? n;
                await sink.WriteAsync(buffer.AsMemory(0, take), cancellationToken).ConfigureAwait(false);
                if (take < n)
                {
                    return false;
                }
            }
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Runs one wait on the guest under the timer, which runs only while it waits; <paramref name="wait"/> honours the token.</summary>
    private async Task<T> BoundAsync<T>(Func<CancellationToken, Task<T>> wait)
    {
        try
        {
            _timer.CancelAfter(_timeout);
            return await wait(_timer.Token).ConfigureAwait(false);
        }
        catch (AgentOperationException e)
        {
            throw _refused(e);
        }
        catch (OperationCanceledException e) when (_timer.IsCancellationRequested && !_caller.IsCancellationRequested)
        {
            throw Diagnostic.Error(e, "SM3020", _what, _timeout);
        }
        finally
        {
            if (!_timer.IsCancellationRequested)
            {
                _timer.CancelAfter(Timeout.InfiniteTimeSpan);
            }
        }
    }
}

/// <summary>How many bytes a read may still keep; shared by readers of one result, thread-safe.</summary>
internal sealed class ByteBudget(long limit)
{
    private long _left = limit;

    public long Limit { get; } = limit;

    /// <summary>Takes up to <paramref name="count"/> bytes of the budget; returns how many it got.</summary>
    public int Take(int count)
    {
        while (true)
        {
            long left = Volatile.Read(ref _left);
            int take = (int)Math.Clamp(left, 0, count);
            if (Interlocked.CompareExchange(ref _left, left - take, left) == left)
            {
                return take;
            }
        }
    }
}
