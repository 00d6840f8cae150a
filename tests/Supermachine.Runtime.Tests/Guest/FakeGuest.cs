using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Threading.Channels;
using Supermachine.Guest;

namespace Supermachine.Tests.Guest;

/// <summary>One frame the host sent, as the fake guest read it.</summary>
internal readonly record struct HostFrame(FrameType Type, byte Channel, uint Stream, byte[] Payload);

/// <summary>
/// A guest played by a test on a unix socket pair: it answers the host's hello properly, then
/// sends whatever the test wants, as code running as root in a VM could. A background reader
/// collects the host's frames and the window credit the host grants, so a test can flood within
/// the rules as well as break them. Nothing here trusts the host either: every wait is bounded.
/// </summary>
internal sealed class FakeGuest : IAsyncDisposable
{
    private readonly SocketPair _pair;
    private readonly Channel<HostFrame> _frames = Channel.CreateUnbounded<HostFrame>();
    private readonly ConcurrentDictionary<uint, long> _credit = new();
    private readonly ConcurrentDictionary<uint, bool> _aborted = new();
    private readonly SemaphoreSlim _creditChanged = new(0);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TaskCompletionSource _keepReading = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopReading;
    private Task _reader = Task.CompletedTask;

    private FakeGuest(SocketPair pair) => _pair = pair;

    /// <summary>The host's end; tests may shrink its send buffer to play a guest that stops reading.</summary>
    public NetworkStream Host => _pair.Host;

    public AgentConnection Connection { get; private set; } = null!;

    /// <summary>Connects a host to a fake guest that says hello; <paramref name="hostSendBuffer"/> is set before the hello.</summary>
    public static async Task<FakeGuest> StartAsync(AgentConnectionOptions? options = null, int? hostSendBuffer = null)
    {
        var guest = new FakeGuest(new SocketPair());
        if (hostSendBuffer is int size)
        {
            guest.Host.Socket.SendBufferSize = size;
        }
        Task<AgentConnection> connecting = AgentConnection.ConnectAsync(guest.Host, options ?? new AgentConnectionOptions { HelloTimeout = TimeSpan.FromSeconds(10) });
        (byte _, uint _, byte[] hello) = await ReadRawFrameAsync(guest._pair.Guest).WaitAsync(TimeSpan.FromSeconds(10));
        await guest._pair.Guest.WriteAsync(HelloReply(BinaryPrimitives.ReadUInt64LittleEndian(hello.AsSpan(16))));
        guest.Connection = await connecting.WaitAsync(TimeSpan.FromSeconds(10));
        guest._reader = Task.Run(guest.ReadLoopAsync);
        return guest;
    }

    /// <summary>A conforming hello reply to <paramref name="nonce"/>; the optional tail is appended after the version string.</summary>
    public static byte[] HelloReply(ulong nonce, uint version = 1, uint flags = 0, uint maxPayload = 65536, uint window = 256 * 1024, string agentVersion = "fake", byte[]? tail = null, int? stringLength = null)
    {
        byte[] text = System.Text.Encoding.UTF8.GetBytes(agentVersion);
        byte[] payload = new byte[28 + text.Length + (tail?.Length ?? 0)];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, version);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), nonce);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(16), maxPayload);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(20), window);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(24), (uint)(stringLength ?? text.Length));
        text.CopyTo(payload, 28);
        tail?.CopyTo(payload, 28 + text.Length);
        return Frame(FrameType.Hello, 0, 0, payload);
    }

    /// <summary>A frame's bytes; the header says <paramref name="claimedLength"/> when given, whatever follows.</summary>
    public static byte[] Frame(FrameType type, byte channel, uint stream, ReadOnlySpan<byte> payload, uint? claimedLength = null) =>
        RawFrame((byte)type, channel, stream, payload, claimedLength);

    /// <summary>A frame of any type byte, defined or not.</summary>
    public static byte[] RawFrame(byte type, byte channel, uint stream, ReadOnlySpan<byte> payload, uint? claimedLength = null)
    {
        byte[] frame = new byte[12 + payload.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(frame, 0x4D53);
        frame[2] = type;
        frame[3] = channel;
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), stream);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(8), claimedLength ?? (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(12));
        return frame;
    }

    public static byte[] U32(uint value)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return b;
    }

    public static byte[] U64(ulong value)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return b;
    }

    /// <summary>Sends raw bytes to the host.</summary>
    public async Task SendAsync(byte[] bytes)
    {
        await _writeLock.WaitAsync();
        try
        {
            await _pair.Guest.WriteAsync(bytes);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task SendAsync(FrameType type, byte channel, uint stream, ReadOnlySpan<byte> payload) => SendAsync(Frame(type, channel, stream, payload));

    /// <summary>The next frame the host sent, of <paramref name="type"/> (others are skipped); within 10 s.</summary>
    public async Task<HostFrame> ExpectAsync(FrameType type)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            HostFrame frame = await _frames.Reader.ReadAsync(timeout.Token);
            if (frame.Type == type)
            {
                return frame;
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="total"/> bytes of DATA on <paramref name="stream"/> within the credit the
    /// host grants, as an honest agent would. Returns the bytes sent when the host stopped taking
    /// them (ABORT, a closed channel, or no credit for 5 s).
    /// </summary>
    public async Task<long> FloodAsync(uint stream, byte channel, long total)
    {
        byte[] chunk = new byte[65536];
        Array.Fill(chunk, (byte)'x');
        _credit.TryAdd(stream, 256 * 1024);
        long sent = 0;
        try
        {
            while (sent < total && !_aborted.ContainsKey(stream))
            {
                long credit = _credit.GetValueOrDefault(stream);
                if (credit <= 0)
                {
                    if (!await _creditChanged.WaitAsync(TimeSpan.FromSeconds(5)))
                    {
                        return sent;
                    }
                    continue;
                }
                int n = (int)Math.Min(Math.Min(credit, chunk.Length), total - sent);
                _credit.AddOrUpdate(stream, 0, (_, c) => c - n);
                await SendAsync(Frame(FrameType.Data, channel, stream, chunk.AsSpan(0, n)));
                sent += n;
            }
        }
        catch (IOException)
        {
            // The host closed the channel: it stopped taking the flood.
        }
        return sent;
    }

    /// <summary>Bytes written to the host, ignoring the window, until the host closes the channel or <paramref name="limit"/>.</summary>
    public async Task<long> WriteUntilClosedAsync(uint stream, long limit)
    {
        byte[] frame = Frame(FrameType.Data, 1, stream, new byte[65536]);
        long sent = 0;
        try
        {
            while (sent < limit)
            {
                await SendAsync(frame).WaitAsync(TimeSpan.FromSeconds(10));
                sent += 65536;
            }
        }
        catch (IOException)
        {
            // The host closed the channel.
        }
        return sent;
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                if (_stopReading)
                {
                    await _keepReading.Task;
                }
                (byte type, uint stream, byte[] payload) = await ReadRawFrameAsync(_pair.Guest);
                if (type == (byte)FrameType.Abort)
                {
                    _aborted[stream] = true;
                    _creditChanged.Release();
                }
                if (type == (byte)FrameType.Window)
                {
                    _credit.AddOrUpdate(stream, 256 * 1024 + BinaryPrimitives.ReadUInt32LittleEndian(payload), (_, c) => c + BinaryPrimitives.ReadUInt32LittleEndian(payload));
                    _creditChanged.Release();
                }
                await _frames.Writer.WriteAsync(new HostFrame((FrameType)type, 0, stream, payload));
            }
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException or OperationCanceledException)
        {
            _frames.Writer.TryComplete();
        }
    }

    /// <summary>Plays a guest that stops reading the channel (after the frame it may be reading now).</summary>
    public void StopReading() => _stopReading = true;

    /// <summary>Reads one frame in the protocol's layout (as the agent would), checking the magic.</summary>
    public static async Task<(byte Type, uint Stream, byte[] Payload)> ReadRawFrameAsync(Stream s)
    {
        byte[] header = new byte[12];
        await s.ReadExactlyAsync(header);
        Assert.Equal(0x4D53, BinaryPrimitives.ReadUInt16LittleEndian(header));
        byte[] payload = new byte[BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8))];
        await s.ReadExactlyAsync(payload);
        return (header[2], BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)), payload);
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        _pair.Dispose();
        _keepReading.TrySetResult();
        try
        {
            await _reader.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is not TimeoutException)
        {
            // The reader ends with the socket.
        }
    }
}

/// <summary>Two connected unix stream sockets: the host's end and a test-played guest.</summary>
internal sealed class SocketPair : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sm-pair").FullName;

    public SocketPair()
    {
        string path = Path.Combine(_dir, "s");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(path));
        Host = new NetworkStream(client, ownsSocket: true);
        Guest = new NetworkStream(listener.Accept(), ownsSocket: true);
    }

    public NetworkStream Host { get; }

    public NetworkStream Guest { get; }

    public void Dispose()
    {
        Host.Dispose();
        Guest.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
