using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Supermachine.Diagnostics;

namespace Supermachine.Guest;

/// <summary>
/// The host side of the agent protocol (guest/agent/PROTOCOL.md) over any duplex byte stream:
/// the virtio-serial port of a VM, or a unix socket to an agent in host test mode. Operations may
/// run concurrently; each is one multiplexed stream with its own flow-control window. Everything
/// the guest sends is validated and bounded: a violation closes the connection (SM3002).
/// </summary>
public sealed class AgentConnection : IAsyncDisposable
{
    private readonly ConcurrentDictionary<uint, MuxStream> _streams = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly AgentConnectionOptions _options;
    private Session? _session;
    private int _nextId;
    private bool _disposed;

    private AgentConnection(AgentConnectionOptions options) => _options = options;

    /// <summary>What the agent reported in the last hello.</summary>
    public AgentInfo Info { get; private set; } = new(0, "", false, false, false);

    /// <summary>Says hello on <paramref name="channel"/> (setting the guest clock) and starts serving.</summary>
    public static async Task<AgentConnection> ConnectAsync(Stream channel, AgentConnectionOptions? options = null, CancellationToken cancellationToken = default)
    {
        var connection = new AgentConnection(options ?? new AgentConnectionOptions());
        await connection.StartSessionAsync(channel, cancellationToken).ConfigureAwait(false);
        return connection;
    }

    /// <summary>
    /// Switches to a new channel to the same agent (after a snapshot restore): the hello resets
    /// every stream in the guest, so streams of the old channel fail here with SM3003.
    /// </summary>
    public async Task ReconnectAsync(Stream channel, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await EndSessionAsync(Diagnostic.Error("SM3003", "the host reconnected; streams of the previous connection were reset")).ConfigureAwait(false);
        await StartSessionAsync(channel, cancellationToken, flushPartialFrame: true).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await EndSessionAsync(new ObjectDisposedException(nameof(AgentConnection))).ConfigureAwait(false);
    }

    // ---------------- operations ----------------

    /// <summary>Runs a command to completion, collecting its output.</summary>
    public async Task<ExecResult> ExecAsync(ExecRequest request, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        await using AgentProcess process = await StartExecAsync(request, cancellationToken).ConfigureAwait(false);
        long total = 0;
        async Task<byte[]> CollectAsync(Stream source)
        {
            var sink = new MemoryStream();
            byte[] buffer = new byte[64 * 1024];
            int n;
            try
            {
                while ((n = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (Interlocked.Add(ref total, n) > request.MaxOutputBytes)
                    {
                        throw Diagnostic.Error("SM3007", request.Arguments[0], request.MaxOutputBytes);
                    }
                    sink.Write(buffer, 0, n);
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
        MuxStream stream = await OpenAsync(body, cancellationToken).ConfigureAwait(false);
        byte[] ack = await AwaitOpenedAsync(stream, e => Diagnostic.Error(e, "SM3004", request.Arguments[0], e.Message), cancellationToken).ConfigureAwait(false);
        int pid = ack.Length >= 4 ? (int)BinaryPrimitives.ReadUInt32LittleEndian(ack) : 0;
        return new AgentProcess(stream, pid);
    }

    /// <summary>Writes a file in the guest (parents created, replaced atomically).</summary>
    public async Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode = 0x1A4 /* 0644 */, CancellationToken cancellationToken = default)
    {
        await using var source = new MemoryStream(content.ToArray(), writable: false);
        await WriteFileAsync(path, source, mode, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes a file in the guest from <paramref name="content"/>, streaming it.</summary>
    public async Task WriteFileAsync(string path, Stream content, int mode = 0x1A4, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        RequireAbsolute(path);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.WriteFile).U32((uint)mode).U32(uint.MaxValue).U32(uint.MaxValue).String(path).ToArray();
        MuxStream stream = await OpenAsync(body, cancellationToken).ConfigureAwait(false);
        try
        {
            Func<Exception, Exception> fail = e => Diagnostic.Error(e, "SM3005", $"write {path}", e.Message);
            await AwaitOpenedAsync(stream, fail, cancellationToken).ConfigureAwait(false);
            byte[] buffer = new byte[AgentProtocol.MaxPayload];
            int n;
            while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                await Guard(stream.SendAsync(buffer.AsMemory(0, n), cancellationToken).AsTask(), fail).ConfigureAwait(false);
            }
            await stream.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
            await Guard(stream.Exited.WaitAsync(cancellationToken), fail).ConfigureAwait(false);
        }
        catch
        {
            await stream.AbortAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Reads a regular file of the guest; larger than <paramref name="maxBytes"/> is an error.</summary>
    public async Task<byte[]> ReadFileAsync(string path, long maxBytes = 256L * 1024 * 1024, CancellationToken cancellationToken = default)
    {
        RequireAbsolute(path);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.ReadFile).U64((ulong)maxBytes).String(path).ToArray();
        MuxStream stream = await OpenAsync(body, cancellationToken).ConfigureAwait(false);
        Func<Exception, Exception> fail = e => Diagnostic.Error(e, "SM3005", $"read {path}", e.Message);
        try
        {
            byte[] ack = await AwaitOpenedAsync(stream, fail, cancellationToken).ConfigureAwait(false);
            ulong size = ack.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(ack) : 0;
            var sink = new MemoryStream((int)Math.Min(size, (ulong)Math.Min(maxBytes, 64L * 1024 * 1024)));
            byte[] buffer = new byte[64 * 1024];
            int n;
            while ((n = await Guard(stream.Inbound(1).ReadAsync(buffer, cancellationToken).AsTask(), fail).ConfigureAwait(false)) > 0)
            {
                if (sink.Length + n > maxBytes)
                {
                    throw Diagnostic.Error("SM3005", $"read {path}", $"the guest sent more than the {maxBytes} bytes allowed");
                }
                sink.Write(buffer, 0, n);
            }
            await Guard(stream.Exited.WaitAsync(cancellationToken), fail).ConfigureAwait(false);
            return sink.ToArray();
        }
        catch
        {
            await stream.AbortAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A connection to guest 127.0.0.1:<paramref name="port"/>, as a duplex stream.</summary>
    public async Task<AgentDuplexStream> OpenPortForwardAsync(int port, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(port is > 0 and <= 65535, true, nameof(port));
        byte[] body = new PayloadWriter().U8((byte)OpenKind.PortForward).U32((uint)port).ToArray();
        MuxStream stream = await OpenAsync(body, cancellationToken).ConfigureAwait(false);
        await AwaitOpenedAsync(stream, e => Diagnostic.Error(e, "SM3009", port, e.Message), cancellationToken).ConfigureAwait(false);
        return new AgentDuplexStream(stream, inbound: 1, canWrite: true);
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
        MuxStream stream = await OpenAsync(body, cancellationToken).ConfigureAwait(false);
        await AwaitOpenedAsync(stream, e => Diagnostic.Error(e, "SM3063", port, e.Message), cancellationToken).ConfigureAwait(false);
        return new AgentDuplexStream(stream, inbound: 1, canWrite: true);
    }

    /// <summary>Completes when something listens on guest TCP port <paramref name="port"/> (IPv4 or IPv6, any address).</summary>
    public async Task WaitForPortAsync(int port, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(port is > 0 and <= 65535, true, nameof(port));
        uint ms = (uint)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, uint.MaxValue);
        byte[] body = new PayloadWriter().U8((byte)OpenKind.WaitPort).U32((uint)port).U32(ms).ToArray();
        MuxStream stream = await OpenAsync(body, cancellationToken).ConfigureAwait(false);
        try
        {
            await Guard(stream.Exited.WaitAsync(cancellationToken), e => Diagnostic.Error(e, "SM3006", port, timeout, e.Message)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await stream.AbortAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The workload's recent stdout and stderr, and whether it still runs.</summary>
    public async Task<WorkloadLog> GetWorkloadLogAsync(CancellationToken cancellationToken = default)
    {
        MuxStream stream = await OpenAsync([(byte)OpenKind.WorkloadLog, 0, 0, 0, 0], cancellationToken).ConfigureAwait(false);
        Func<Exception, Exception> fail = e => Diagnostic.Error(e, "SM3005", "read the workload log", e.Message);
        byte[] ack = await AwaitOpenedAsync(stream, fail, cancellationToken).ConfigureAwait(false);
        long total = ack.Length >= 8 ? (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(ack), long.MaxValue) : 0;
        var sink = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        int n;
        while ((n = await Guard(stream.Inbound(1).ReadAsync(buffer, cancellationToken).AsTask(), fail).ConfigureAwait(false)) > 0)
        {
            if (sink.Length + n > 4 * 1024 * 1024)
            {
                throw new AgentProtocolException("a workload log larger than the agent keeps");
            }
            sink.Write(buffer, 0, n);
        }
        ExitStatus exit = await Guard(stream.Exited.WaitAsync(cancellationToken), fail).ConfigureAwait(false);
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
        MuxStream stream = await OpenAsync(body, cancellationToken).ConfigureAwait(false);
        Func<Exception, Exception> fail = e => Diagnostic.Error(e, "SM3012", e.Message);
        try
        {
            await AwaitOpenedAsync(stream, fail, cancellationToken).ConfigureAwait(false);
            byte[] buffer = new byte[AgentProtocol.MaxPayload];
            int n;
            while ((n = await Guard(stream.Inbound(1).ReadAsync(buffer, cancellationToken).AsTask(), fail).ConfigureAwait(false)) > 0)
            {
                await destination.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
            await Guard(stream.Exited.WaitAsync(cancellationToken), fail).ConfigureAwait(false);
        }
        catch
        {
            await stream.AbortAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts the image's process (once); returns its guest pid, 0 when the spec has no arguments.</summary>
    public async Task<int> StartWorkloadAsync(WorkloadSpec workload, CancellationToken cancellationToken = default)
    {
        byte[] body = ExecPayload(OpenKind.WorkloadStart, workload.Arguments, workload.Environment, workload.WorkingDirectory, workload.User, 0, 0);
        MuxStream stream = await OpenAsync(body, cancellationToken).ConfigureAwait(false);
        Func<Exception, Exception> fail = e => Diagnostic.Error(e, "SM3011", e.Message);
        byte[] ack = await AwaitOpenedAsync(stream, fail, cancellationToken).ConfigureAwait(false);
        await Guard(stream.Exited.WaitAsync(cancellationToken), fail).ConfigureAwait(false);
        return ack.Length >= 4 ? (int)BinaryPrimitives.ReadUInt32LittleEndian(ack) : 0;
    }

    /// <summary>Sends <paramref name="signal"/> to the workload's process group.</summary>
    public async Task SignalWorkloadAsync(int signal, CancellationToken cancellationToken = default)
    {
        byte[] p = new PayloadWriter().U32((uint)signal).ToArray();
        await SendFrameAsync(FrameType.Signal, 0, 0, p, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks the guest to stop: the workload and commands get SIGTERM, then SIGKILL after
    /// <paramref name="grace"/>; the agent syncs and powers off. Completes when the agent has
    /// acknowledged (the channel then closes).
    /// </summary>
    public async Task ShutdownAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        uint ms = (uint)Math.Clamp(grace.TotalMilliseconds, 0, 60000);
        MuxStream stream = await OpenAsync(new PayloadWriter().U8((byte)OpenKind.Shutdown).U32(ms).ToArray(), cancellationToken).ConfigureAwait(false);
        try
        {
            await stream.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SupermachineException e) when (e.Code == "SM3003")
        {
            // The guest powered off before its acknowledgement got through: that is the goal.
        }
    }

    // ---------------- streams and frames ----------------

    private static byte[] ExecPayload(OpenKind kind, IReadOnlyList<string> argv, IReadOnlyList<string> env, string? cwd, string? user, uint flags, uint timeoutMs) =>
        new PayloadWriter().U8((byte)kind).U32(flags).U32(timeoutMs).String(cwd ?? "").String(user ?? "").List(argv.ToList()).List(env.ToList()).ToArray();

    private static void RequireAbsolute(string path)
    {
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"'{path}' is not an absolute guest path.", nameof(path));
        }
    }

    private async Task<MuxStream> OpenAsync(byte[] body, CancellationToken cancellationToken)
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

    private static async Task<byte[]> AwaitOpenedAsync(MuxStream stream, Func<Exception, Exception> fail, CancellationToken cancellationToken)
    {
        try
        {
            return await Guard(stream.Opened.WaitAsync(cancellationToken), fail).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await stream.AbortAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Maps the guest refusing an operation to the caller's coded error; other failures pass.</summary>
    private static async Task<T> Guard<T>(Task<T> task, Func<Exception, Exception> fail)
    {
        try
        {
            return await task.ConfigureAwait(false);
        }
        catch (AgentOperationException e)
        {
            throw fail(e);
        }
    }

    private static async Task Guard(Task task, Func<Exception, Exception> fail)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (AgentOperationException e)
        {
            throw fail(e);
        }
    }

    internal void Forget(MuxStream stream) => _streams.TryRemove(new KeyValuePair<uint, MuxStream>(stream.Id, stream));

    internal async ValueTask SendFrameAsync(FrameType type, byte channel, uint stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        Session session = _session ?? throw new ObjectDisposedException(nameof(AgentConnection));
        if (session.Fault is { } fault)
        {
            throw fault;
        }
        byte[] frame = new byte[AgentProtocol.HeaderSize + payload.Length];
        AgentProtocol.WriteHeader(frame, type, channel, stream, payload.Length);
        payload.CopyTo(frame.AsMemory(AgentProtocol.HeaderSize));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (session.Fault is { } f)
            {
                throw f;
            }
            // Never cancelled half way: a partial frame would desynchronise the channel.
            await session.Channel.WriteAsync(frame, CancellationToken.None).ConfigureAwait(false);
            await session.Channel.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw Fail(session, Diagnostic.Error(e, "SM3003", "writing to the guest failed: " + e.Message));
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Ends a session with <paramref name="error"/>: every open stream fails with it.</summary>
    private Exception Fail(Session session, Exception error)
    {
        if (Interlocked.CompareExchange(ref session.Fault, error, null) is { } earlier)
        {
            return earlier;
        }
        try
        {
            session.Channel.Dispose();
        }
        catch (Exception)
        {
            // Closing a broken channel can throw again; the session is over either way.
        }
        if (ReferenceEquals(_session, session))
        {
            foreach (MuxStream s in _streams.Values)
            {
                s.Fault(error);
            }
        }
        return error;
    }

    private async Task EndSessionAsync(Exception reason)
    {
        Session? session = _session;
        if (session is null)
        {
            return;
        }
        Fail(session, reason);
        foreach (MuxStream s in _streams.Values)
        {
            s.Fault(reason);
        }
        try
        {
            await session.Reader.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The reader ends with the channel; its error is the session's fault, already reported.
        }
    }

    private async Task StartSessionAsync(Stream channel, CancellationToken cancellationToken, bool flushPartialFrame = false)
    {
        byte[] leftover = await HelloAsync(channel, flushPartialFrame, cancellationToken).ConfigureAwait(false);
        var session = new Session(channel);
        _session = session;
        session.Reader = Task.Run(() => ReadLoopAsync(session, leftover), CancellationToken.None);
    }

    /// <summary>
    /// Sends HELLO and scans for the reply carrying our nonce. Bytes before it (frames queued by
    /// the guest for an earlier connection, or a frame cut short by a snapshot) are skipped.
    /// Returns what followed the reply. With <paramref name="flushPartialFrame"/> (a restored
    /// guest may hold half a frame of the previous host) a frame's worth of zeros goes first:
    /// it completes any such frame, then fails the magic check, and the agent skips to the HELLO.
    /// </summary>
    private async Task<byte[]> HelloAsync(Stream channel, bool flushPartialFrame, CancellationToken cancellationToken)
    {
        ulong nonce = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8));
        long unixNs = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
        byte[] payload = new PayloadWriter().U32(AgentProtocol.Version).U32(0).U64((ulong)unixNs).U64(nonce).ToArray();
        byte[] frame = new byte[AgentProtocol.HeaderSize + payload.Length];
        AgentProtocol.WriteHeader(frame, FrameType.Hello, 0, 0, payload.Length);
        payload.CopyTo(frame, AgentProtocol.HeaderSize);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.HelloTimeout);
        try
        {
            if (flushPartialFrame)
            {
                await channel.WriteAsync(new byte[AgentProtocol.HeaderSize + AgentProtocol.MaxPayload], timeout.Token).ConfigureAwait(false);
            }
            await channel.WriteAsync(frame, timeout.Token).ConfigureAwait(false);
            await channel.FlushAsync(timeout.Token).ConfigureAwait(false);
            byte[] buffer = new byte[128 * 1024];
            int length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    // Keep a possible header start; everything before it was scanned.
                    Array.Copy(buffer, length - 64, buffer, 0, 64);
                    length = 64;
                }
                int n = await channel.ReadAsync(buffer.AsMemory(length), timeout.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    throw Diagnostic.Error("SM3003", "the channel closed before the agent said hello");
                }
                length += n;
                for (int i = 0; i + AgentProtocol.HeaderSize <= length; i++)
                {
                    ReadOnlySpan<byte> h = buffer.AsSpan(i, length - i);
                    if (h[0] != 0x53 || h[1] != 0x4D || h[2] != (byte)FrameType.Hello || h[3] != 0 || BinaryPrimitives.ReadUInt32LittleEndian(h[4..]) != 0)
                    {
                        continue;
                    }
                    uint len = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
                    if (len is < 28 or > 1024)
                    {
                        continue;
                    }
                    if (h.Length < AgentProtocol.HeaderSize + len)
                    {
                        break; // need more bytes for this candidate
                    }
                    ReadOnlySpan<byte> p = h.Slice(AgentProtocol.HeaderSize, (int)len);
                    if (BinaryPrimitives.ReadUInt64LittleEndian(p[8..]) != nonce)
                    {
                        continue;
                    }
                    var reader = new PayloadReader(p);
                    uint version = reader.U32();
                    uint flags = reader.U32();
                    reader.U64();
                    reader.U32();
                    reader.U32();
                    string agentVersion = reader.String();
                    if (version != AgentProtocol.Version)
                    {
                        throw Diagnostic.Error("SM3010", version, AgentProtocol.Version);
                    }
                    Info = new AgentInfo(version, agentVersion, (flags & AgentProtocol.HelloPid1) != 0,
                        (flags & AgentProtocol.HelloWorkloadRunning) != 0, (flags & AgentProtocol.HelloWorkloadExited) != 0);
                    return h[(AgentProtocol.HeaderSize + (int)len)..].ToArray();
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw Diagnostic.Error("SM3008", _options.HelloTimeout);
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

    private async Task ReadLoopAsync(Session session, byte[] leftover)
    {
        var reader = new FrameReader(session.Channel, leftover);
        try
        {
            while (true)
            {
                Frame? next = await reader.ReadAsync().ConfigureAwait(false);
                if (next is not { } frame)
                {
                    Fail(session, Diagnostic.Error("SM3003", "the guest closed it"));
                    return;
                }
                if (frame.Stream == 0)
                {
                    if (frame.Type == FrameType.Error)
                    {
                        var r = new PayloadReader(frame.Payload);
                        r.U32();
                        throw new AgentProtocolException("the agent rejected a frame of the host: " + r.String());
                    }
                    if (frame.Type != FrameType.Hello)
                    {
                        throw new AgentProtocolException($"{frame.Type} on stream 0");
                    }
                    continue;
                }
                if (frame.Stream > (uint)Volatile.Read(ref _nextId))
                {
                    throw new AgentProtocolException($"a frame for stream {frame.Stream}, which the host never opened");
                }
                if (_streams.TryGetValue(frame.Stream, out MuxStream? stream))
                {
                    stream.OnFrame(frame);
                }
                // Frames of streams the host has finished (aborted, or already ended) are dropped.
            }
        }
        catch (AgentProtocolException e)
        {
            Fail(session, Diagnostic.Error(e, "SM3002", e.Message));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            Fail(session, Diagnostic.Error(e, "SM3003", e.Message));
        }
    }

    private sealed class Session(Stream channel)
    {
        public Stream Channel { get; } = channel;

        public Task Reader { get; set; } = Task.CompletedTask;

        public Exception? Fault;
    }

    /// <summary>Reads validated frames: magic, known type, channel 0-2, bounded length.</summary>
    private sealed class FrameReader(Stream channel, byte[] leftover)
    {
        private readonly byte[] _header = new byte[AgentProtocol.HeaderSize];
        private int _leftoverOffset;

        public async Task<Frame?> ReadAsync()
        {
            if (!await FillAsync(_header).ConfigureAwait(false))
            {
                return null;
            }
            if (BinaryPrimitives.ReadUInt16LittleEndian(_header) != AgentProtocol.Magic)
            {
                throw new AgentProtocolException("a frame without the protocol's magic");
            }
            byte type = _header[2];
            byte ch = _header[3];
            uint stream = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(4));
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(8));
            if (type is < (byte)FrameType.Hello or > (byte)FrameType.Abort || ch > 2)
            {
                throw new AgentProtocolException($"an unknown frame type {type} or channel {ch}");
            }
            if (length > AgentProtocol.MaxPayload)
            {
                throw new AgentProtocolException($"a frame of {length} bytes, more than the {AgentProtocol.MaxPayload} allowed");
            }
            byte[] payload = new byte[length];
            if (!await FillAsync(payload).ConfigureAwait(false))
            {
                throw new AgentProtocolException("the channel ended inside a frame");
            }
            return new Frame((FrameType)type, ch, stream, payload);
        }

        private async Task<bool> FillAsync(byte[] destination)
        {
            int have = 0;
            if (_leftoverOffset < leftover.Length)
            {
                have = Math.Min(destination.Length, leftover.Length - _leftoverOffset);
                Array.Copy(leftover, _leftoverOffset, destination, 0, have);
                _leftoverOffset += have;
            }
            while (have < destination.Length)
            {
                int n = await channel.ReadAsync(destination.AsMemory(have)).ConfigureAwait(false);
                if (n == 0)
                {
                    if (have == 0)
                    {
                        return false;
                    }
                    throw new AgentProtocolException("the channel ended inside a frame");
                }
                have += n;
            }
            return true;
        }
    }
}
