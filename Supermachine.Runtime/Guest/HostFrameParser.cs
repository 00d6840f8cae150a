namespace Supermachine.Guest;

/// <summary>
/// The host frame parser as one pure entry point, for fuzzing: the host's own code (hello scan,
/// header validation, payload shapes, routing, windows, inbound buffers) run over bytes as if a
/// guest had sent them, with no channel, no threads and no clock.
/// </summary>
internal static class HostFrameParser
{
    /// <summary>The nonce the simulated host says hello with: a fuzzer can learn it from the input's use of it.</summary>
    public const ulong Nonce = 0x0123456789ABCDEF;

    /// <summary>Streams the simulated host has open (ids 1 to this) when the guest's bytes arrive.</summary>
    public const int OpenStreams = 4;

    /// <summary>The most input the stream overload reads: a few windows' worth.</summary>
    public const int MaxInput = 1024 * 1024;

    /// <summary>
    /// Feeds <paramref name="input"/> to the host as the guest's side of a channel: first the scan
    /// for the hello reply carrying <see cref="Nonce"/> (the frames follow it; without one, the
    /// whole input is read as frames), then every complete frame, routed to streams 1 to
    /// <see cref="OpenStreams"/> while a reader takes their data after every second frame (which
    /// returns credit). Stops at the first protocol violation, as the host closes the connection
    /// there. Returns how many frames (the hello included) were accepted. It never throws for any
    /// input: an exception out of it is a bug of the host.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> input)
    {
        var host = new SimulatedHost();
        int accepted = 0;
        try
        {
            ReadOnlySpan<byte> rest = input;
            if (AgentFraming.TryFindHello(input, Nonce, out _, out int end, out _))
            {
                rest = input[end..];
                accepted++;
            }
            while (rest.Length >= AgentProtocol.HeaderSize)
            {
                FrameHeader h = AgentFraming.ParseHeader(rest);
                if (rest.Length < AgentProtocol.HeaderSize + h.Length)
                {
                    break; // the host would wait for the rest of the frame
                }
                var frame = new Frame(h.Type, h.Channel, h.Stream, rest.Slice(AgentProtocol.HeaderSize, h.Length).ToArray());
                rest = rest[(AgentProtocol.HeaderSize + h.Length)..];
                AgentFraming.Route(frame, OpenStreams, host.Streams);
                accepted++;
                if (accepted % 2 == 0)
                {
                    host.Drain();
                }
            }
        }
        catch (AgentProtocolException)
        {
            // What the host does with a violation: the connection closes (SM3002).
        }
        return accepted;
    }

    /// <summary>As <see cref="Parse(ReadOnlySpan{byte})"/> over the first <see cref="MaxInput"/> bytes of <paramref name="input"/> (for harnesses that hand a stream).</summary>
    public static int Parse(Stream input)
    {
        byte[] buffer = new byte[MaxInput];
        int length = 0;
        int n;
        while (length < buffer.Length && (n = input.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += n;
        }
        return Parse(buffer.AsSpan(0, length));
    }

    /// <summary>The stream table of a host that opened streams 1 to <see cref="OpenStreams"/>; its frames go nowhere.</summary>
    private sealed class SimulatedHost : IMuxOwner
    {
        private readonly byte[] _scratch = new byte[AgentProtocol.MaxPayload];

        public SimulatedHost()
        {
            for (uint id = 1; id <= OpenStreams; id++)
            {
                Streams[id] = new MuxStream(this, id);
            }
        }

        public Dictionary<uint, MuxStream> Streams { get; } = [];

        public ValueTask SendFrameAsync(FrameType type, byte channel, uint stream, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
            ValueTask.CompletedTask;

        public void Forget(MuxStream stream) => Streams.Remove(stream.Id);

        /// <summary>A reader takes every buffered byte; with nothing to wait for, each read completes at once.</summary>
        public void Drain()
        {
            foreach (MuxStream stream in Streams.Values.ToList())
            {
                for (int channel = 1; channel <= 2; channel++)
                {
                    InboundQueue queue = stream.Inbound(channel);
                    while (queue.Buffered > 0)
                    {
                        ValueTask<int> read = queue.ReadAsync(_scratch, CancellationToken.None);
                        if (!read.IsCompletedSuccessfully || read.Result == 0)
                        {
                            throw new InvalidOperationException("A read of buffered bytes did not complete at once.");
                        }
                    }
                }
            }
        }
    }
}
