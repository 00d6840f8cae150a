using System.Buffers.Binary;
using Supermachine.Guest;

namespace Supermachine.Fuzz.Targets;

/// <summary>
/// The host's agent frame parser as one pure function (<see cref="HostFrameParser.Parse"/>): hello
/// scan, header validation, payload shapes, routing to streams 1-4, credit and inbound buffers,
/// run over the input as if a guest had sent it. It must never throw.
/// </summary>
internal sealed class FramesTarget : IFuzzTarget
{
    public string Name => "frames";

    public void Run(byte[] input) => HostFrameParser.Parse(input);

    public IEnumerable<(string Name, byte[] Content)> Seeds()
    {
        byte[] U32s(params uint[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
        byte[] hello = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, AgentProtocol.Version);
        BinaryPrimitives.WriteUInt64LittleEndian(hello.AsSpan(8), HostFrameParser.Nonce);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(16), AgentProtocol.MaxPayload);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(20), AgentProtocol.InitialWindow);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(24), 4);
        "fuzz"u8.CopyTo(hello.AsSpan(28));
        byte[] helloFrame = HostileGuestChannel.Frame(FrameType.Hello, 0, 0, hello);
        byte[] open = HostileGuestChannel.Frame(FrameType.Open, 0, 1, []);
        byte[] stdout = HostileGuestChannel.Frame(FrameType.Data, 1, 1, "hello\n"u8.ToArray());
        byte[] stderr = HostileGuestChannel.Frame(FrameType.Data, 2, 2, "oops\n"u8.ToArray());
        byte[] close = HostileGuestChannel.Frame(FrameType.Close, 1, 1, []);
        byte[] window = HostileGuestChannel.Frame(FrameType.Window, 0, 3, U32s(1 << 16));
        byte[] exit = HostileGuestChannel.Frame(FrameType.Exit, 0, 1, U32s(0, 0, 0));
        byte[] error = HostileGuestChannel.Frame(FrameType.Error, 0, 4, [.. U32s(2, 5), .. "nope\n"u8.ToArray()]);
        yield return ("exchange", [.. helloFrame, .. open, .. stdout, .. stderr, .. close, .. window, .. exit, .. error]);
        yield return ("no-hello", [.. open, .. stdout, .. exit]);
        yield return ("junk-then-hello", [.. "\0\0\0SM\x01"u8.ToArray(), .. helloFrame, .. window]);
    }
}
