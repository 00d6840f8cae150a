using Supermachine.Guest;

namespace Supermachine.Tests.Guest;

/// <summary>The pure entry point the fuzz harness calls: it runs the host's decoding and never throws.</summary>
public class HostFrameParserTests
{
    private static byte[] ValidSession() =>
    [
        .. FakeGuest.HelloReply(HostFrameParser.Nonce),
        .. FakeGuest.Frame(FrameType.Open, 0, 1, FakeGuest.U32(42)),
        .. FakeGuest.Frame(FrameType.Data, 1, 1, new byte[100]),
        .. FakeGuest.Frame(FrameType.Data, 2, 1, new byte[65536]),
        .. FakeGuest.Frame(FrameType.Close, 1, 1, []),
        .. FakeGuest.Frame(FrameType.Close, 2, 1, []),
        .. FakeGuest.Frame(FrameType.Exit, 0, 1, new byte[12]),
        .. FakeGuest.Frame(FrameType.Error, 0, 2, [.. FakeGuest.U32(2), .. FakeGuest.U32(4), .. "gone"u8]),
    ];

    [Fact]
    public void A_valid_session_is_accepted_frame_by_frame()
    {
        Assert.Equal(8, HostFrameParser.Parse(ValidSession()));
        // Without the hello the frames still count; a frame cut short is waited for, not refused.
        Assert.Equal(7, HostFrameParser.Parse(ValidSession().AsSpan(FakeGuest.HelloReply(0).Length)));
        Assert.Equal(7, HostFrameParser.Parse(ValidSession().AsSpan(0, ValidSession().Length - 3)));
        Assert.Equal(0, HostFrameParser.Parse([]));
        Assert.Equal(8, HostFrameParser.Parse(new MemoryStream(ValidSession())));
    }

    [Fact]
    public void Parsing_stops_at_the_first_violation_and_credit_returns_as_the_reader_drains()
    {
        byte[] input = [.. FakeGuest.HelloReply(HostFrameParser.Nonce), .. FakeGuest.Frame(FrameType.Open, 0, 1, []),
            .. FakeGuest.Frame(FrameType.Window, 0, 1, FakeGuest.U32(1)), .. FakeGuest.Frame(FrameType.Open, 0, 2, [])];
        Assert.Equal(2, HostFrameParser.Parse(input));
        byte[] overWindow = [.. Enumerable.Range(0, 5).SelectMany(_ => FakeGuest.Frame(FrameType.Data, 1, 3, new byte[65536]))];
        // The reader drains after every second frame, so the fifth frame still fits the window it returned.
        Assert.Equal(5, HostFrameParser.Parse(overWindow));
    }

    [Fact]
    public void Random_and_mutated_inputs_never_throw()
    {
        var random = new Random(7);
        byte[] valid = ValidSession();
        for (int i = 0; i < 20_000; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[random.Next(0, 300)];
                random.NextBytes(input);
            }
            else
            {
                input = (byte[])valid.Clone();
                for (int flips = random.Next(1, 8); flips > 0; flips--)
                {
                    input[random.Next(input.Length)] = (byte)random.Next(256);
                }
            }
            int accepted = HostFrameParser.Parse(input);
            Assert.InRange(accepted, 0, input.Length / 12 + 1);
        }
    }
}
