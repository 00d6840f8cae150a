using System.Buffers.Binary;

namespace Supermachine.Guest;

/// <summary>The 12-byte header of a frame from the guest, validated.</summary>
internal readonly record struct FrameHeader(FrameType Type, byte Channel, uint Stream, int Length);

/// <summary>What the agent said in its hello reply (the version alone when it is not ours).</summary>
internal readonly record struct HelloReply(uint Version, uint Flags, string AgentVersion);

/// <summary>
/// Decoding of everything the guest sends, as pure functions over bytes: frame headers, payload
/// shapes, the hello reply, and which stream a frame may reach. The guest is untrusted (code in it
/// runs as root): every length is checked against the frame type before anything is allocated,
/// payloads have exact shapes, and a violation is an <see cref="AgentProtocolException"/>.
/// </summary>
internal static class AgentFraming
{
    /// <summary>Validates the header of a frame the guest sent: magic, a type the guest may send, channel and length.</summary>
    public static FrameHeader ParseHeader(ReadOnlySpan<byte> header)
    {
        if (BinaryPrimitives.ReadUInt16LittleEndian(header) != AgentProtocol.Magic)
        {
            throw new AgentProtocolException("a frame without the protocol's magic");
        }
        byte type = header[2];
        byte channel = header[3];
        uint stream = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        if (length > AgentProtocol.MaxPayload)
        {
            throw new AgentProtocolException($"a frame of {length} bytes, more than the {AgentProtocol.MaxPayload} allowed");
        }
        (bool known, bool dataChannel, uint min, uint max) = (FrameType)type switch
        {
            FrameType.Hello => (true, false, 0u, (uint)AgentProtocol.HelloReplyMaxSize),
            FrameType.Open => (true, false, 0u, (uint)AgentProtocol.OpenAckMaxSize),
            FrameType.Data => (true, true, 1u, (uint)AgentProtocol.MaxPayload),
            FrameType.Close => (true, true, 0u, 0u),
            FrameType.Window => (true, false, (uint)AgentProtocol.WindowPayloadSize, (uint)AgentProtocol.WindowPayloadSize),
            FrameType.Exit => (true, false, (uint)AgentProtocol.ExitPayloadSize, (uint)AgentProtocol.ExitPayloadSize),
            FrameType.Error => (true, false, 8u, (uint)AgentProtocol.MaxPayload),
            // SIGNAL and ABORT go host to guest only; anything else is no frame type at all.
            _ => (false, false, 0u, 0u),
        };
        if (!known)
        {
            throw new AgentProtocolException($"frame type {type}, which the guest may not send");
        }
        if (dataChannel ? channel is not (1 or 2) : channel != 0)
        {
            throw new AgentProtocolException($"{(FrameType)type} on channel {channel}");
        }
        if (length < min || length > max)
        {
            throw new AgentProtocolException($"{(FrameType)type} with a payload of {length} bytes");
        }
        return new FrameHeader((FrameType)type, channel, stream, (int)length);
    }

    /// <summary>The host's HELLO frame: version, flags, host time and the nonce the reply must carry.</summary>
    public static byte[] HelloFrame(ulong nonce, long unixNanoseconds)
    {
        byte[] payload = new PayloadWriter().U32(AgentProtocol.Version).U32(0).U64((ulong)unixNanoseconds).U64(nonce).ToArray();
        byte[] frame = new byte[AgentProtocol.HeaderSize + AgentProtocol.HelloRequestSize];
        AgentProtocol.WriteHeader(frame, FrameType.Hello, 0, 0, payload.Length);
        payload.CopyTo(frame, AgentProtocol.HeaderSize);
        return frame;
    }

    /// <summary>
    /// Looks for the hello reply carrying <paramref name="nonce"/> in <paramref name="received"/>,
    /// skipping whatever comes before it (frames queued for an earlier host, half a frame cut by a
    /// snapshot). Found: <paramref name="end"/> is where the frames after it start. Not found:
    /// bytes before <paramref name="keepFrom"/> can never start the reply and may be dropped; a
    /// candidate that needs more bytes does not hide a complete reply after it.
    /// </summary>
    public static bool TryFindHello(ReadOnlySpan<byte> received, ulong nonce, out HelloReply reply, out int end, out int keepFrom)
    {
        int firstIncomplete = -1;
        for (int i = 0; i + AgentProtocol.HeaderSize <= received.Length; i++)
        {
            ReadOnlySpan<byte> h = received[i..];
            if (BinaryPrimitives.ReadUInt16LittleEndian(h) != AgentProtocol.Magic || h[2] != (byte)FrameType.Hello || h[3] != 0
                || BinaryPrimitives.ReadUInt32LittleEndian(h[4..]) != 0)
            {
                continue;
            }
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
            if (length is < AgentProtocol.HelloReplyMinSize or > AgentProtocol.HelloReplyMaxSize)
            {
                continue;
            }
            if (h.Length < AgentProtocol.HeaderSize + length)
            {
                if (firstIncomplete < 0)
                {
                    firstIncomplete = i;
                }
                continue;
            }
            ReadOnlySpan<byte> payload = h.Slice(AgentProtocol.HeaderSize, (int)length);
            if (BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]) != nonce)
            {
                continue;
            }
            reply = ParseHelloReply(payload);
            end = i + AgentProtocol.HeaderSize + (int)length;
            keepFrom = end;
            return true;
        }
        reply = default;
        end = 0;
        keepFrom = firstIncomplete >= 0 ? firstIncomplete : Math.Max(0, received.Length - (AgentProtocol.HeaderSize - 1));
        return false;
    }

    /// <summary>
    /// The reply's payload, strictly: <c>u32 version, u32 flags, u64 nonce, u32 max payload,
    /// u32 initial window, str agent version</c> and nothing after. Another version is returned
    /// as it is (its layout may differ), for the caller's SM3010.
    /// </summary>
    public static HelloReply ParseHelloReply(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        uint version = reader.U32();
        if (version != AgentProtocol.Version)
        {
            return new HelloReply(version, 0, "");
        }
        uint flags = reader.U32();
        reader.U64();
        uint maxPayload = reader.U32();
        uint window = reader.U32();
        string agentVersion = reader.String();
        reader.End();
        if ((flags & ~AgentProtocol.HelloKnownFlags) != 0)
        {
            throw new AgentProtocolException($"hello flags 0x{flags:x}, which protocol {version} does not define");
        }
        if (maxPayload != AgentProtocol.MaxPayload || window != AgentProtocol.InitialWindow)
        {
            throw new AgentProtocolException($"a hello with a maximum payload of {maxPayload} and a window of {window} (protocol {version} has {AgentProtocol.MaxPayload} and {AgentProtocol.InitialWindow})");
        }
        return new HelloReply(version, flags, agentVersion);
    }

    public static uint ParseWindow(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        uint increment = reader.U32();
        reader.End();
        return increment;
    }

    public static ExitStatus ParseExit(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var status = new ExitStatus((int)reader.U32(), (int)reader.U32(), reader.U32());
        reader.End();
        return status;
    }

    /// <summary>An ERROR payload (<c>u32 errno, str message</c>) as the failure it reports; the message is sanitised.</summary>
    public static AgentOperationException ParseError(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        int errno = (int)reader.U32();
        string message = reader.String();
        reader.End();
        return new AgentOperationException(errno, message);
    }

    /// <summary>
    /// Hands one frame to the stream it names. Stream 0 carries only ERROR (the agent refused a
    /// host frame: the connection is over) and HELLO (ignored). Other ids must have been opened by
    /// the host; frames of streams the host has finished with are dropped.
    /// </summary>
    public static void Route(in Frame frame, uint highestOpened, IReadOnlyDictionary<uint, MuxStream> streams)
    {
        if (frame.Stream == 0)
        {
            switch (frame.Type)
            {
                case FrameType.Error:
                    throw new AgentProtocolException("the agent rejected a frame of the host: " + ParseError(frame.Payload.Span).Message);
                case FrameType.Hello:
                    return;
                default:
                    throw new AgentProtocolException($"{frame.Type} on stream 0");
            }
        }
        if (frame.Stream > highestOpened)
        {
            throw new AgentProtocolException($"a frame for stream {frame.Stream}, which the host never opened");
        }
        if (streams.TryGetValue(frame.Stream, out MuxStream? stream))
        {
            stream.OnFrame(frame);
        }
    }
}

/// <summary>
/// Reads validated frames from the channel, into one reused payload buffer (a frame is routed
/// before the next is read). What the hello scan read past the reply comes first.
/// </summary>
internal sealed class FrameReader(Stream channel, byte[] leftover)
{
    private readonly byte[] _header = new byte[AgentProtocol.HeaderSize];
    private readonly byte[] _payload = new byte[AgentProtocol.MaxPayload];
    private int _leftoverOffset;

    /// <summary>The next frame, or null when the channel ended between frames.</summary>
    public async Task<Frame?> ReadAsync()
    {
        if (!await FillAsync(_header).ConfigureAwait(false))
        {
            return null;
        }
        FrameHeader h = AgentFraming.ParseHeader(_header);
        Memory<byte> payload = _payload.AsMemory(0, h.Length);
        if (!await FillAsync(payload).ConfigureAwait(false))
        {
            throw new AgentProtocolException("the channel ended inside a frame");
        }
        return new Frame(h.Type, h.Channel, h.Stream, payload);
    }

    private async Task<bool> FillAsync(Memory<byte> destination)
    {
        int have = 0;
        if (_leftoverOffset < leftover.Length)
        {
            have = Math.Min(destination.Length, leftover.Length - _leftoverOffset);
            leftover.AsMemory(_leftoverOffset, have).CopyTo(destination);
            _leftoverOffset += have;
        }
        while (have < destination.Length)
        {
            int n = await channel.ReadAsync(destination[have..]).ConfigureAwait(false);
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
