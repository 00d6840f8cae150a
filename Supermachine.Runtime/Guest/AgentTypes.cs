using System.Text;

namespace Supermachine.Guest;

/// <summary>A command to run in the guest, as <c>docker exec</c> runs one.</summary>
public sealed record ExecRequest
{
    public ExecRequest(IReadOnlyList<string> arguments)
    {
        if (arguments.Count == 0)
        {
            throw new ArgumentException("At least the program to run is needed.", nameof(arguments));
        }
        Arguments = arguments;
    }

    /// <summary>argv; the program is looked up on the command's PATH.</summary>
    public IReadOnlyList<string> Arguments { get; }

    /// <summary>Variables added to (or replacing those of) the workload's environment.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>Start from an empty environment (PATH only) instead of the workload's.</summary>
    public bool ReplaceEnvironment { get; init; }

    /// <summary>Working directory; null means the workload's (the image's WorkingDir), else /.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>"name", "uid", "name:group" or "uid:gid"; null means the workload's user.</summary>
    public string? User { get; init; }

    /// <summary>Killed (SIGKILL to its process group) when it runs longer; null means no limit.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Bytes fed to standard input, which is then closed; null means empty input.</summary>
    public ReadOnlyMemory<byte>? StandardInput { get; init; }

    /// <summary>Most bytes of stdout plus stderr <c>ExecAsync</c> keeps; more is an error (SM3007).</summary>
    public long MaxOutputBytes { get; init; } = 64L * 1024 * 1024;
}

/// <summary>The outcome of a finished command.</summary>
public sealed record ExecResult
{
    public required int ExitCode { get; init; }

    /// <summary>The signal that ended the command, or null if it exited.</summary>
    public int? Signal { get; init; }

    /// <summary>It ran past <see cref="ExecRequest.Timeout"/> and was killed.</summary>
    public bool TimedOut { get; init; }

    public required byte[] StandardOutputBytes { get; init; }

    public required byte[] StandardErrorBytes { get; init; }

    public string StandardOutput => Encoding.UTF8.GetString(StandardOutputBytes);

    public string StandardError => Encoding.UTF8.GetString(StandardErrorBytes);

    /// <summary>From the request to the exit, as seen by the host.</summary>
    public TimeSpan Duration { get; init; }
}

/// <summary>How a streamed command ended.</summary>
public readonly record struct ExecExit(int ExitCode, int? Signal, bool TimedOut);

/// <summary>The image's process: what the agent starts, and what execs inherit by default.</summary>
public sealed record WorkloadSpec
{
    /// <summary>Entrypoint followed by command; empty sets only the defaults execs inherit.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>The complete environment (the image's Env plus overrides), as "K=V".</summary>
    public IReadOnlyList<string> Environment { get; init; } = [];

    public string? WorkingDirectory { get; init; }

    /// <summary>The image's User: "name", "uid", "name:group" or "uid:gid"; null is root.</summary>
    public string? User { get; init; }
}

/// <summary>The workload's captured stdout and stderr (the last MiB) and its state.</summary>
public sealed record WorkloadLog
{
    public required byte[] Content { get; init; }

    /// <summary>Bytes the workload ever wrote; more than <see cref="Content"/> holds when truncated.</summary>
    public long TotalBytes { get; init; }

    public bool Truncated { get; init; }

    public bool Running { get; init; }

    public bool Exited { get; init; }

    public int ExitCode { get; init; }

    public int? Signal { get; init; }

    public string Text => Encoding.UTF8.GetString(Content);
}

/// <summary>What the agent said in its hello.</summary>
public sealed record AgentInfo(uint ProtocolVersion, string AgentVersion, bool IsInit, bool WorkloadRunning, bool WorkloadExited);

/// <summary>Options of an <see cref="AgentConnection"/>.</summary>
public sealed record AgentConnectionOptions
{
    /// <summary>How long to wait for the agent's hello (it includes the guest's boot on a cold start).</summary>
    public TimeSpan HelloTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long the host waits on the guest within an operation before failing it with SM3020:
    /// for an acknowledgement, for the next bytes of a file, log or export, for window credit, for
    /// an exit that is due. A frame the guest does not read within it ends the connection (SM3021).
    /// Not applied while a command runs or a port-forward connection idles: those wait on the
    /// workload, not on the agent. <see cref="Timeout.InfiniteTimeSpan"/> waits forever.
    /// </summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
