using System.Buffers.Binary;
using Supermachine.Guest;

namespace Supermachine.Fuzz.Targets;

/// <summary>
/// The host's end of the agent channel with a scripted, hostile guest behind it. It answers the
/// host's HELLO with a valid reply (echoing the host's random nonce, which no fuzzer could
/// guess), waits for the host's next frame (the OPEN of the operation under test) so the script
/// always meets an open stream 1, then delivers the script's bytes and ends the stream. What the
/// host writes after that is discarded.
/// </summary>
internal sealed class HostileGuestChannel(byte[] script) : Stream
{
    private readonly SemaphoreSlim _readable = new(0);
    private readonly object _lock = new();
    private byte[] _pending = [];
    private int _offset;
    private int _framesWritten;
    private bool _scriptQueued;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < AgentProtocol.HeaderSize || BinaryPrimitives.ReadUInt16LittleEndian(buffer) != AgentProtocol.Magic)
        {
            return;
        }
        lock (_lock)
        {
            _framesWritten++;
            if (_framesWritten == 1 && buffer[2] == (byte)FrameType.Hello)
            {
                // HELLO payload: u32 version, u32 flags, u64 host time, u64 nonce.
                ulong nonce = BinaryPrimitives.ReadUInt64LittleEndian(buffer[(AgentProtocol.HeaderSize + 16)..]);
                Queue(HelloReply(nonce));
            }
            else if (!_scriptQueued)
            {
                _scriptQueued = true;
                Queue(script);
            }
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            lock (_lock)
            {
                if (_offset < _pending.Length)
                {
                    int n = Math.Min(buffer.Length, _pending.Length - _offset);
                    _pending.AsSpan(_offset, n).CopyTo(buffer.Span);
                    _offset += n;
                    return n;
                }
                if (_scriptQueued)
                {
                    return 0;
                }
            }
            await _readable.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void Queue(byte[] bytes)
    {
        _pending = [.. _pending.AsSpan(_offset), .. bytes];
        _offset = 0;
        _readable.Release();
    }

    // u32 version, u32 flags, u64 nonce, u32 max payload, u32 initial window, str agent version.
    private static byte[] HelloReply(ulong nonce)
    {
        byte[] payload = new PayloadWriter()
            .U32(AgentProtocol.Version).U32(0).U64(nonce).U32(AgentProtocol.MaxPayload).U32(AgentProtocol.InitialWindow).String("fuzz")
            .ToArray();
        return Frame(FrameType.Hello, 0, 0, payload);
    }

    public static byte[] Frame(FrameType type, byte channel, uint stream, byte[] payload)
    {
        byte[] frame = new byte[AgentProtocol.HeaderSize + payload.Length];
        AgentProtocol.WriteHeader(frame, type, channel, stream, payload.Length);
        payload.CopyTo(frame, AgentProtocol.HeaderSize);
        return frame;
    }
}
