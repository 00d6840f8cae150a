using System.Buffers.Binary;
using System.Text;

namespace Supermachine.Guest;

/// <summary>Frame types of the agent protocol (guest/agent/PROTOCOL.md).</summary>
internal enum FrameType : byte
{
    Hello = 1,
    Open = 2,
    Data = 3,
    Close = 4,
    Window = 5,
    Exit = 6,
    Signal = 7,
    Error = 8,
    Abort = 9,
}

/// <summary>What an OPEN frame asks the agent to start.</summary>
internal enum OpenKind : byte
{
    Exec = 1,
    WriteFile = 2,
    ReadFile = 3,
    PortForward = 4,
    WaitPort = 5,
    WorkloadLog = 6,
    WorkloadStart = 7,
    Shutdown = 8,
    ExportChanges = 9,
    HostAccept = 10,
    Network = 11,
    Mount = 12,
}

/// <summary>
/// One frame as read from the channel. The payload is only valid until the next frame is read:
/// whoever keeps it copies it.
/// </summary>
internal readonly record struct Frame(FrameType Type, byte Channel, uint Stream, ReadOnlyMemory<byte> Payload);

/// <summary>Wire constants shared with guest/agent/agent.c; change both together.</summary>
internal static class AgentProtocol
{
    public const uint Version = 1;
    public const ushort Magic = 0x4D53; // "SM" little endian
    public const int HeaderSize = 12;
    public const int MaxPayload = 65536;
    public const int InitialWindow = 256 * 1024;
    public const int HelloRequestSize = 24;

    /// <summary>The agent's hello reply: 28 bytes of fields, then its version string.</summary>
    public const int HelloReplyMinSize = 28;

    /// <summary>No honest hello reply is longer: the agent's version string is short.</summary>
    public const int HelloReplyMaxSize = 1024;

    /// <summary>The longest OPEN acknowledgement of any kind (a u64 size).</summary>
    public const int OpenAckMaxSize = 8;

    public const int WindowPayloadSize = 4;
    public const int ExitPayloadSize = 12;

    public const uint ExecReplaceEnvironment = 1;

    public const uint ExitTimedOut = 1;
    public const uint ExitWorkloadRunning = 2;
    public const uint ExitWorkloadExited = 4;
    public const uint ExitLogTruncated = 8;

    public const uint HelloPid1 = 1;
    public const uint HelloWorkloadRunning = 2;
    public const uint HelloWorkloadExited = 4;
    public const uint HelloKnownFlags = HelloPid1 | HelloWorkloadRunning | HelloWorkloadExited;

    /// <summary>Messages from the guest are untrusted: never longer than this in an exception.</summary>
    public const int MaxMessageChars = 400;

    public static void WriteHeader(Span<byte> destination, FrameType type, byte channel, uint stream, int length)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Magic);
        destination[2] = (byte)type;
        destination[3] = channel;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], stream);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)length);
    }

    /// <summary>Text from the guest made safe to show: bounded, control characters replaced.</summary>
    public static string Sanitize(ReadOnlySpan<byte> text)
    {
        string s = Encoding.UTF8.GetString(text.Length > MaxMessageChars ? text[..MaxMessageChars] : text);
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            sb.Append(char.IsControl(c) ? '?' : c);
        }
        return sb.ToString();
    }
}

/// <summary>Builds a payload: little-endian integers and u32-length-prefixed UTF-8 strings.</summary>
internal sealed class PayloadWriter
{
    private readonly MemoryStream _buffer = new();

    public PayloadWriter U8(byte value)
    {
        _buffer.WriteByte(value);
        return this;
    }

    public PayloadWriter U32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _buffer.Write(b);
        return this;
    }

    public PayloadWriter U64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        _buffer.Write(b);
        return this;
    }

    public PayloadWriter String(string value)
    {
        if (value.Contains('\0'))
        {
            throw new ArgumentException("Strings sent to the guest cannot contain NUL characters.", nameof(value));
        }
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        U32((uint)bytes.Length);
        _buffer.Write(bytes);
        return this;
    }

    public PayloadWriter List(IReadOnlyCollection<string> values)
    {
        U32((uint)values.Count);
        foreach (string v in values)
        {
            String(v);
        }
        return this;
    }

    public byte[] ToArray()
    {
        if (_buffer.Length > AgentProtocol.MaxPayload)
        {
            throw new ArgumentException($"The request is {_buffer.Length} bytes; the agent takes at most {AgentProtocol.MaxPayload} (argv and environment together).");
        }
        return _buffer.ToArray();
    }
}

/// <summary>Reads a payload from the guest with every access bounds-checked.</summary>
internal ref struct PayloadReader
{
    private ReadOnlySpan<byte> _rest;

    public PayloadReader(ReadOnlySpan<byte> payload) => _rest = payload;

    public int Remaining => _rest.Length;

    public uint U32()
    {
        if (_rest.Length < 4)
        {
            throw new AgentProtocolException("a frame payload is shorter than its type requires");
        }
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(_rest);
        _rest = _rest[4..];
        return v;
    }

    public ulong U64()
    {
        if (_rest.Length < 8)
        {
            throw new AgentProtocolException("a frame payload is shorter than its type requires");
        }
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_rest);
        _rest = _rest[8..];
        return v;
    }

    /// <summary>Payloads have exact shapes: bytes left over are a violation, not padding.</summary>
    public readonly void End()
    {
        if (!_rest.IsEmpty)
        {
            throw new AgentProtocolException($"a frame payload has {_rest.Length} bytes more than its type allows");
        }
    }

    public string String()
    {
        uint length = U32();
        if (length > _rest.Length)
        {
            throw new AgentProtocolException("a string runs past the end of its frame");
        }
        string s = AgentProtocol.Sanitize(_rest[..(int)length]);
        _rest = _rest[(int)length..];
        return s;
    }
}

/// <summary>The guest sent something the protocol does not allow; the connection is closed.</summary>
internal sealed class AgentProtocolException(string message) : Exception(message);

/// <summary>The agent refused or failed one operation (an ERROR frame on a stream).</summary>
internal sealed class AgentOperationException(int errno, string message) : Exception(message)
{
    /// <summary>The guest's errno for the failure (e.g. 2 = ENOENT, 110 = ETIMEDOUT).</summary>
    public int Errno { get; } = errno;
}
