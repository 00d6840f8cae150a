using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Supermachine.Vmm.Qemu;

/// <summary>A QMP command QEMU answered with an error object.</summary>
internal sealed class QmpException(string command, string errorClass, string description)
    : Exception($"QEMU refused '{command}': {errorClass}: {description}")
{
    public string Command { get; } = command;

    public string ErrorClass { get; } = errorClass;

    public string Description { get; } = description;
}

/// <summary>
/// Client for the QEMU Machine Protocol over a unix socket: reads the greeting, negotiates
/// capabilities, then runs commands concurrently (each tagged with an id, answered out of order if
/// QEMU likes) while a reader loop routes replies to their callers. Asynchronous events are read and
/// dropped: the engine waits on command results and the console, never on events. QEMU's replies are trusted only as far as JSON parsing goes.
/// </summary>
internal sealed class QmpClient : IAsyncDisposable
{
    private const int MaxLineBytes = 16 << 20;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<long, (string Command, TaskCompletionSource<JsonNode?> Reply)> _pending = new();
    private readonly CancellationTokenSource _closing = new();
    private Task? _readLoop;
    private long _nextId;
    private Exception? _closedBecause;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>The "QMP.version" of the greeting, e.g. 7.2.22.</summary>
    public string? Version { get; private set; }

    /// <summary>
    /// Connects to the QMP socket at <paramref name="socketPath"/>, retrying while QEMU has not
    /// created it yet, and completes capability negotiation.
    /// </summary>
    public static async Task<QmpClient> ConnectAsync(string socketPath, TimeSpan timeout, Func<bool>? giveUp = null, CancellationToken cancellationToken = default)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                var client = new QmpClient(socket);
                try
                {
                    await client.HandshakeAsync(cancellationToken).ConfigureAwait(false);
                    return client;
                }
                catch
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && giveUp?.Invoke() != true)
            {
                socket.Dispose();
                await Task.Delay(3, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Runs <paramref name="command"/> and returns its "return" value; throws <see cref="QmpException"/> on an error reply.</summary>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null, CancellationToken cancellationToken = default)
    {
        long id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = (command, reply);
        if (Volatile.Read(ref _closedBecause) is not null)
        {
            _pending.TryRemove(id, out _);
            throw new IOException("The QMP connection is closed.", _closedBecause);
        }
        var message = new JsonObject { ["execute"] = command, ["id"] = id };
        if (arguments is not null)
        {
            message["arguments"] = arguments;
        }
        byte[] line = Encoding.UTF8.GetBytes(message.ToJsonString() + "\n");
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(line, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _pending.TryRemove(id, out _);
            throw;
        }
        finally
        {
            _writeLock.Release();
        }
        using (cancellationToken.Register(() => reply.TrySetCanceled(cancellationToken)))
        {
            return await reply.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Completes when QEMU closes the connection (for example when it exits).</summary>
    public Task Completion => _readLoop ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        _closing.Cancel();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed by QEMU.
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
        if (_readLoop is not null)
        {
            try
            {
                await _readLoop.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The loop ends with whatever the closed socket threw; nothing waits for it now.
            }
        }
        _writeLock.Dispose();
        _closing.Dispose();
    }

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var reader = new LineReader(_stream);
        JsonNode greeting = await reader.ReadJsonAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new IOException("QEMU closed the QMP socket before its greeting.");
        JsonNode? version = greeting["QMP"]?["version"]?["qemu"];
        if (version is not null)
        {
            Version = $"{version["major"]}.{version["minor"]}.{version["micro"]}";
        }
        _readLoop = Task.Run(() => ReadLoopAsync(reader));
        await ExecuteAsync("qmp_capabilities", cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private async Task ReadLoopAsync(LineReader reader)
    {
        Exception closed = new IOException("QEMU closed the QMP connection.");
        try
        {
            while (await reader.ReadJsonAsync(_closing.Token).ConfigureAwait(false) is JsonNode message)
            {
                Dispatch(message);
            }
        }
        catch (Exception e)
        {
            closed = e;
        }
        Volatile.Write(ref _closedBecause, closed);
        foreach (long id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var waiter))
            {
                waiter.Reply.TrySetException(new IOException($"QEMU closed the QMP connection before answering '{waiter.Command}'.", closed));
            }
        }
    }

    private void Dispatch(JsonNode message)
    {
        if (message is not JsonObject obj)
        {
            return;
        }
        if (obj["id"] is not JsonValue idValue || !idValue.TryGetValue(out long id) || !_pending.TryRemove(id, out var waiter))
        {
            return;
        }
        if (obj["error"] is JsonObject error)
        {
            waiter.Reply.TrySetException(new QmpException(waiter.Command,
                error["class"]?.GetValue<string>() ?? "GenericError",
                error["desc"]?.GetValue<string>() ?? "(no description)"));
        }
        else
        {
            waiter.Reply.TrySetResult(obj["return"]?.DeepClone());
        }
    }

    /// <summary>Splits the QMP byte stream into JSON lines, refusing absurdly long ones.</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private readonly MemoryStream _line = new();
        private int _start;
        private int _end;

        public async Task<JsonNode?> ReadJsonAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                int newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline >= 0)
                {
                    _line.Write(_buffer, _start, newline - _start);
                    _start = newline + 1;
                    byte[] line = _line.ToArray();
                    _line.SetLength(0);
                    if (line.AsSpan().Trim((byte)'\r').Trim((byte)' ').Length == 0)
                    {
                        continue;
                    }
                    return JsonNode.Parse(line);
                }
                _line.Write(_buffer, _start, _end - _start);
                if (_line.Length > MaxLineBytes)
                {
                    throw new InvalidDataException("QEMU sent a QMP message longer than 16 MiB.");
                }
                _start = _end = 0;
                int read = await stream.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return null;
                }
                _end = read;
            }
        }
    }
}
