namespace Supermachine.Guest;

/// <summary>
/// A command running in the guest, started by <see cref="AgentConnection.StartExecAsync"/>.
/// Its output streams must be read (flow control holds the command back otherwise). Disposing
/// it kills the command's process group if it has not ended.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private readonly MuxStream _stream;

    internal AgentProcess(MuxStream stream, int pid)
    {
        _stream = stream;
        Id = pid;
        StandardInput = new AgentDuplexStream(stream, inbound: 0, canWrite: true);
        StandardOutput = new AgentDuplexStream(stream, inbound: 1, canWrite: false);
        StandardError = new AgentDuplexStream(stream, inbound: 2, canWrite: false);
    }

    /// <summary>The multiplexed stream underneath (tests look at its buffers).</summary>
    internal MuxStream Stream => _stream;

    /// <summary>The command's pid in the guest.</summary>
    public int Id { get; }

    /// <summary>Its stdin; dispose it (or call CompleteWritesAsync) to send end of input.</summary>
    public AgentDuplexStream StandardInput { get; }

    public AgentDuplexStream StandardOutput { get; }

    public AgentDuplexStream StandardError { get; }

    /// <summary>Completes when the command has exited and its output is closed.</summary>
    public async Task<ExecExit> WaitForExitAsync(CancellationToken cancellationToken = default)
    {
        ExitStatus status = await _stream.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new ExecExit(status.Code, status.Signal == 0 ? null : status.Signal, (status.Flags & AgentProtocol.ExitTimedOut) != 0);
    }

    /// <summary>Sends <paramref name="signal"/> to the command's process group.</summary>
    public ValueTask SignalAsync(int signal, CancellationToken cancellationToken = default) => _stream.SignalAsync(signal, cancellationToken);

    /// <summary>SIGKILL to the command's process group.</summary>
    public ValueTask KillAsync(CancellationToken cancellationToken = default) => _stream.SignalAsync(9, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (!_stream.Exited.IsCompleted)
        {
            await _stream.AbortAsync().ConfigureAwait(false);
        }
    }
}
