using System.Buffers.Binary;
using System.Diagnostics;
using Supermachine.Diagnostics;

namespace Supermachine.Guest;

/// <summary>
/// The host side of the agent protocol (guest/agent/PROTOCOL.md) over any duplex byte stream:
/// the virtio-serial port of a VM, or a unix socket to an agent in host test mode. Operations may
/// run concurrently; each is one multiplexed stream with its own flow-control window. This class
/// holds the operations; <see cref="AgentSession"/> the channel and the frames, and
/// <see cref="AgentFraming"/> their decoding. Everything the guest sends is validated and
/// bounded: a violation closes the connection (SM3002), and a guest that stops answering fails
/// the operation waiting on it (SM3020).
/// </summary>
internal sealed class AgentConnection : IAsyncDisposable
{
    /// <summary>The most workload log kept: twice what the agent holds (1 MiB), the head when a guest sends more.</summary>
    internal const int WorkloadLogCap = 2 * 1024 * 1024;

    private readonly AgentSession _session;

    private AgentConnection(AgentSession session) => _session = session;

    /// <summary>What the agent reported in the last hello.</summary>
    public AgentInfo Info => _session.Info;

    private TimeSpan OperationTimeout => _session.Options.OperationTimeout;

    /// <summary>Says hello on <paramref name="channel"/> (setting the guest clock) and starts serving.</summary>
    public static async Task<AgentConnection> ConnectAsync(Stream channel, AgentConnectionOptions? options = null, CancellationToken cancellationToken = default)
    {
        AgentSession session = await AgentSession.ConnectAsync(channel, options ?? new AgentConnectionOptions(), cancellationToken).ConfigureAwait(false);
        return new AgentConnection(session);
    }

    /// <summary>
    /// Switches to a new channel to the same agent (after a snapshot restore): the hello resets
    /// every stream in the guest, so streams of the old channel fail here with SM3003.
    /// </summary>
    public Task ReconnectAsync(Stream channel, CancellationToken cancellationToken = default) => _session.ReconnectAsync(channel, cancellationToken);

    public ValueTask DisposeAsync() => _session.DisposeAsync();

    /// <summary>Runs a command to completion, collecting its output (at most <see cref="ExecRequest.MaxOutputBytes"/>, else SM3007).</summary>
    public async Task<ExecResult> ExecAsync(ExecRequest request, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        await using AgentProcess process = await StartExecAsync(request, cancellationToken).ConfigureAwait(false);
        var budget = new ByteBudget(request.MaxOutputBytes);
        async Task<byte[]> CollectAsync(AgentDuplexStream source)
        {
            var sink = new MemoryStream();
            try
            {
                // No timeout: a command may be silent for as long as it likes.
                if (!await AgentCall.ReadToEndAsync(b => source.ReadAsync(b, cancellationToken).AsTask(), sink, budget, cancellationToken).ConfigureAwait(false))
                {
                    throw Errors.ExecOutputTooLarge(request.Arguments[0], request.MaxOutputBytes);
                }
            }
            catch
            {
                // Ends the command and with it the other output, which would otherwise wait forever.
                await process.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            return sink.ToArray();
        }
        async Task FeedAsync()
        {
            if (request.StandardInput is { } input)
            {
                await process.StandardInput.WriteAsync(input, cancellationToken).ConfigureAwait(false);
            }
            await process.StandardInput.DisposeAsync().ConfigureAwait(false);
        }
        Task<byte[]> stdout = CollectAsync(process.StandardOutput);
        Task<byte[]> stderr = CollectAsync(process.StandardError);
        Task feed = FeedAsync();
        try
        {
            await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
            ExecExit exit = await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await feed.ConfigureAwait(false);
            }
            catch (Exception) when (feed.IsFaulted)
            {
                // The command ended without reading all of its input: that is its business.
            }
            return new ExecResult
            {
                ExitCode = exit.ExitCode,
                Signal = exit.Signal,
                TimedOut = exit.TimedOut,
                StandardOutputBytes = await stdout.ConfigureAwait(false),
                StandardErrorBytes = await stderr.ConfigureAwait(false),
                Duration = clock.Elapsed,
            };
        }
        catch (Exception e)
        {
            await process.DisposeAsync().ConfigureAwait(false);
            await Task.WhenAny(Task.WhenAll(stdout, stderr, feed)).ConfigureAwait(false);
            // A cancelled collector ends the command, so the other one may fail first with a
            // disposed stream: the caller asked to cancel, and that is what it is told.
            if (cancellationToken.IsCancellationRequested && e is not OperationCanceledException)
            {
                throw new OperationCanceledException("The command was cancelled.", e, cancellationToken);
            }
            throw;
        }
    }

    /// <summary>Starts a command and hands back its streams; disposing it kills the command if still running.</summary>
    public async Task<AgentProcess> StartExecAsync(ExecRequest request, CancellationToken cancellationToken = default)
    {
        byte[] body = ExecPayload(OpenKind.Exec, request.Arguments, request.Environment?.Select(kv => $"{kv.Key}={kv.Value}").ToList() ?? [],
            request.WorkingDirectory, request.User, request.ReplaceEnvironment ? AgentProtocol.ExecReplaceEnvironment : 0,
            request.Timeout is { } t ? (uint)Math.Clamp(Math.Ceiling(t.TotalMilliseconds), 1, uint.MaxValue) : 0);
        await using AgentCall call = await OpenAsync(body, $"start '{request.Arguments[0]}'", e => Errors.ExecCouldNotStart(request.Arguments[0], e.Message, cause: e), cancellationToken).ConfigureAwait(false);
        byte[] ack = await call.OpenedAsync().ConfigureAwait(false);
        int pid = ack.Length >= 4 ? (int)BinaryPrimitives.ReadUInt32LittleEndian(ack) : 0;
        call.Complete();
        return new AgentProcess(call.Stream, pid);
    }

    /// <summary>Writes a file in the guest (parents created, replaced atomically).</summary>
    public async Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode = 0x1A4 /* 0644 */, CancellationToken cancellationToken = default)
    {
        await using var source = new MemoryStream(content.ToArray(), writable: false);
        await WriteFileAsync(path, source, mode, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes a file in the guest from <paramref name="content"/>, streaming it.</summary>
    public Task WriteFileAsync(string path, Stream content, int mode = 0x1A4, CancellationToken cancellationToken = default) =>
        WriteFileAsync(path, content, mode, uid: null, gid: null, cancellationToken);

    /// <summary>Writes a file in the guest owned by <paramref name="uid"/>:<paramref name="gid"/> (null keeps root's).</summary>
    public async Task WriteFileAsync(string path, Stream content, int mode, int? uid, int? gid, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        RequireAbsolute(path);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.WriteFile).U32((uint)mode).U32(uid is >= 0 ? (uint)uid : uint.MaxValue).U32(gid is >= 0 ? (uint)gid : uint.MaxValue).String(path).ToArray();
        await using AgentCall call = await OpenAsync(body, $"write {path}", e => Errors.GuestOperationFailed($"write {path}", e.Message, cause: e), cancellationToken).ConfigureAwait(false);
        await call.OpenedAsync().ConfigureAwait(false);
        byte[] buffer = new byte[AgentProtocol.MaxPayload];
        int n;
        while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await call.SendAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
        }
        await call.Stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
        await call.ExitedAsync().ConfigureAwait(false);
        call.Complete();
    }

    /// <summary>Reads a regular file of the guest; larger than <paramref name="maxBytes"/> is an error.</summary>
    public async Task<byte[]> ReadFileAsync(string path, long maxBytes = 256L * 1024 * 1024, CancellationToken cancellationToken = default)
    {
        RequireAbsolute(path);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.ReadFile).U64((ulong)maxBytes).String(path).ToArray();
        await using AgentCall call = await OpenAsync(body, $"read {path}", e => Errors.GuestOperationFailed($"read {path}", e.Message, cause: e), cancellationToken).ConfigureAwait(false);
        byte[] ack = await call.OpenedAsync().ConfigureAwait(false);
        ulong size = ack.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(ack) : 0;
        // The size is the guest's word: it sizes the buffer only up to a few MiB, which grows as bytes really come.
        var sink = new MemoryStream((int)Math.Min(size, (ulong)Math.Min(maxBytes, 4L * 1024 * 1024)));
        if (!await call.ReadToEndAsync(sink, new ByteBudget(maxBytes)).ConfigureAwait(false))
        {
            throw Errors.GuestOperationFailed($"read {path}", $"the guest sent more than the {maxBytes} bytes allowed");
        }
        await call.ExitedAsync().ConfigureAwait(false);
        call.Complete();
        return sink.ToArray();
    }

    /// <summary>A connection to guest 127.0.0.1:<paramref name="port"/>, as a duplex stream.</summary>
    public async Task<AgentDuplexStream> OpenPortForwardAsync(int port, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(port is > 0 and <= 65535, true, nameof(port));
        byte[] body = new PayloadWriter().U8((byte)OpenKind.PortForward).U32((uint)port).ToArray();
        await using AgentCall call = await OpenAsync(body, $"connect to guest port {port}", e => Errors.GuestConnectFailed(port, e.Message, cause: e), cancellationToken).ConfigureAwait(false);
        await call.OpenedAsync().ConfigureAwait(false);
        call.Complete();
        return new AgentDuplexStream(call.Stream, inbound: 1, canWrite: true);
    }

    /// <summary>
    /// The next guest connection to host.supermachine.internal:<paramref name="port"/>, as a duplex
    /// stream; completes only when a guest client connects (the agent listens on the port from
    /// this call on). The caller decides which host ports it offers: the guest never names one.
    /// </summary>
    public async Task<AgentDuplexStream> AcceptHostConnectionAsync(int port, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(port is > 0 and <= 65535, true, nameof(port));
        byte[] body = new PayloadWriter().U8((byte)OpenKind.HostAccept).U32((uint)port).ToArray();
        // No timeout: the stream waits for a guest client, which may never come.
        await using AgentCall call = await OpenAsync(body, $"offer host port {port}", e => Errors.HostPortNotOffered(port, e.Message, cause: e), cancellationToken, Timeout.InfiniteTimeSpan).ConfigureAwait(false);
        await call.OpenedAsync().ConfigureAwait(false);
        call.Complete();
        return new AgentDuplexStream(call.Stream, inbound: 1, canWrite: true);
    }

    /// <summary>
    /// Puts the guest's second NIC on the private network as <paramref name="identity"/>
    /// ("ADDRESS/PREFIX", empty to leave) and makes <paramref name="hostsLines"/> ("ADDRESS NAME...")
    /// its members in /etc/hosts. Completes once the guest applied both.
    /// </summary>
    public async Task ConfigureNetworkAsync(string identity, IReadOnlyList<string> hostsLines, CancellationToken cancellationToken = default)
    {
        byte[] body = new PayloadWriter().U8((byte)OpenKind.Network).List([identity, .. hostsLines]).ToArray();
        await using AgentCall call = await OpenAsync(body, "join the private network", e => Errors.GuestOperationFailed("join the private network", e.Message, cause: e), cancellationToken).ConfigureAwait(false);
        await call.OpenedAsync().ConfigureAwait(false);
        await call.ExitedAsync().ConfigureAwait(false);
        call.Complete();
    }

    /// <summary>Completes when something listens on guest TCP port <paramref name="port"/> (IPv4 or IPv6, any address).</summary>
    public async Task WaitForPortAsync(int port, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(port is > 0 and <= 65535, true, nameof(port));
        uint ms = (uint)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, uint.MaxValue);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.WaitPort).U32((uint)port).U32(ms).ToArray();
        // The agent answers by the deadline it was given; the host waits that long and its own timeout more.
        await using AgentCall call = await OpenAsync(body, $"wait for guest port {port}", e => Errors.PortNeverListened(port, timeout, e.Message, cause: e), cancellationToken,
            Beyond(TimeSpan.FromMilliseconds(ms))).ConfigureAwait(false);
        await call.ExitedAsync().ConfigureAwait(false);
        call.Complete();
    }

    /// <summary>
    /// The workload's recent stdout and stderr, and whether it still runs. A guest that sends more
    /// than <see cref="WorkloadLogCap"/> bytes gets its first ones kept, an SM3022 line after them,
    /// and <see cref="WorkloadLog.Truncated"/> set; its state is then unknown (neither running nor exited).
    /// </summary>
    public async Task<WorkloadLog> GetWorkloadLogAsync(CancellationToken cancellationToken = default)
    {
        await using AgentCall call = await OpenAsync([(byte)OpenKind.WorkloadLog, 0, 0, 0, 0], "read the workload log",
            e => Errors.GuestOperationFailed("read the workload log", e.Message, cause: e), cancellationToken).ConfigureAwait(false);
        byte[] ack = await call.OpenedAsync().ConfigureAwait(false);
        long total = ack.Length >= 8 ? (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(ack), long.MaxValue) : 0;
        var sink = new MemoryStream();
        if (!await call.ReadToEndAsync(sink, new ByteBudget(WorkloadLogCap)).ConfigureAwait(false))
        {
            // The stream is aborted on dispose: a flood is not read to its end.
            sink.Write(System.Text.Encoding.UTF8.GetBytes("\n" + Warnings.WorkloadLogFlooded(WorkloadLogCap) + "\n"));
            return new WorkloadLog { Content = sink.ToArray(), TotalBytes = Math.Max(total, sink.Length), Truncated = true };
        }
        ExitStatus exit = await call.ExitedAsync().ConfigureAwait(false);
        call.Complete();
        return new WorkloadLog
        {
            Content = sink.ToArray(),
            TotalBytes = total,
            Truncated = (exit.Flags & AgentProtocol.ExitLogTruncated) != 0,
            Running = (exit.Flags & AgentProtocol.ExitWorkloadRunning) != 0,
            Exited = (exit.Flags & AgentProtocol.ExitWorkloadExited) != 0,
            ExitCode = exit.Code,
            Signal = exit.Signal == 0 ? null : exit.Signal,
        };
    }

    /// <summary>
    /// Writes what changed in the guest's filesystem since boot (the overlay's upper directory) to
    /// <paramref name="destination"/> as an uncompressed OCI image layer tar: deletions as
    /// <c>.wh.NAME</c> files, directories that replaced a lower one with <c>.wh..wh..opq</c>, xattrs
    /// in PAX records (overlayfs's own dropped), hard links as links. Entries are sorted, so the
    /// same changes give the same bytes (modification times aside). Run it while nothing writes.
    /// </summary>
    public async Task ExportChangesAsync(Stream destination, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.ExportChanges).U32(0).ToArray();
        await using AgentCall call = await OpenAsync(body, "export the filesystem changes", e => Errors.ExportChangesFailed(e.Message, cause: e), cancellationToken).ConfigureAwait(false);
        await call.OpenedAsync().ConfigureAwait(false);
        await call.ReadToEndAsync(destination, budget: null).ConfigureAwait(false);
        await call.ExitedAsync().ConfigureAwait(false);
        call.Complete();
    }

    /// <summary>
    /// Mounts the device the host just attached at <paramref name="target"/> (made when missing): an
    /// ext4 volume by its virtio serial, or a 9p share by its tag. The agent waits up to
    /// <paramref name="timeout"/> for the device to appear.
    /// </summary>
    public async Task MountAsync(GuestMount mount, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        uint ms = (uint)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, uint.MaxValue);
        uint flags = (mount.ReadOnly ? 1u : 0) | (mount.Fresh ? 2u : 0);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.Mount).U32(flags).U32(ms)
            .String(mount.Source).String(mount.FileSystem).String(mount.Target).String("").ToArray();
        await using AgentCall call = await OpenAsync(body, $"mount {mount.What}", e => Errors.GuestMountFailed(mount.What, mount.Target, e.Message, cause: e), cancellationToken,
            Beyond(TimeSpan.FromMilliseconds(ms))).ConfigureAwait(false);
        await call.OpenedAsync().ConfigureAwait(false);
        await call.ExitedAsync().ConfigureAwait(false);
        call.Complete();
    }

    /// <summary>Starts the image's process (once); returns its guest pid, 0 when the spec has no arguments.</summary>
    public async Task<int> StartWorkloadAsync(WorkloadSpec workload, CancellationToken cancellationToken = default)
    {
        byte[] body = ExecPayload(OpenKind.WorkloadStart, workload.Arguments, workload.Environment, workload.WorkingDirectory, workload.User, 0, 0);
        IReadOnlyList<string> settings = workload.Settings();
        if (settings.Count > 0)
        {
            // Optional trailing list: an agent from before it sees the same request as ever.
            body = [.. body, .. new PayloadWriter().List(settings.ToList()).ToArray()];
        }
        await using AgentCall call = await OpenAsync(body, "start the workload", e => Errors.WorkloadCouldNotStart(e.Message, cause: e), cancellationToken).ConfigureAwait(false);
        byte[] ack = await call.OpenedAsync().ConfigureAwait(false);
        await call.ExitedAsync().ConfigureAwait(false);
        call.Complete();
        return ack.Length >= 4 ? (int)BinaryPrimitives.ReadUInt32LittleEndian(ack) : 0;
    }

    /// <summary>Sends <paramref name="signal"/> to the workload's process group.</summary>
    public async Task SignalWorkloadAsync(int signal, CancellationToken cancellationToken = default)
    {
        byte[] p = new PayloadWriter().U32((uint)signal).ToArray();
        await _session.SendFrameAsync(FrameType.Signal, 0, 0, p, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks the guest to stop: the workload and commands get SIGTERM, then SIGKILL after
    /// <paramref name="grace"/>; the agent syncs and powers off. Completes when the agent has
    /// acknowledged (the channel then closes).
    /// </summary>
    public async Task ShutdownAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        uint ms = (uint)Math.Clamp(grace.TotalMilliseconds, 0, 60000);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.Shutdown).U32(ms).ToArray();
        await using AgentCall call = await OpenAsync(body, "shut down", e => e, cancellationToken, Beyond(TimeSpan.FromMilliseconds(ms))).ConfigureAwait(false);
        try
        {
            await call.ExitedAsync().ConfigureAwait(false);
        }
        catch (SupermachineException e) when (e.Code == Errors.Codes.AgentChannelClosed)
        {
            // The guest powered off before its acknowledgement got through: that is the goal.
        }
        call.Complete();
    }

    private Task<AgentCall> OpenAsync(byte[] body, string what, Func<Exception, Exception> refused, CancellationToken cancellationToken, TimeSpan? timeout = null) =>
        AgentCall.OpenAsync(_session, body, what, timeout ?? OperationTimeout, refused, cancellationToken);

    /// <summary>A wait the guest itself bounds by <paramref name="guestDeadline"/>, plus the host's own timeout.</summary>
    private TimeSpan Beyond(TimeSpan guestDeadline) =>
        OperationTimeout == Timeout.InfiniteTimeSpan ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(Math.Min((guestDeadline + OperationTimeout).TotalMilliseconds, int.MaxValue - 1));

    private static byte[] ExecPayload(OpenKind kind, IReadOnlyList<string> argv, IReadOnlyList<string> env, string? cwd, string? user, uint flags, uint timeoutMs) =>
        new PayloadWriter().U8((byte)kind).U32(flags).U32(timeoutMs).String(cwd ?? "").String(user ?? "").List(argv.ToList()).List(env.ToList()).ToArray();

    private static void RequireAbsolute(string path)
    {
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"'{path}' is not an absolute guest path.", nameof(path));
        }
    }
}
