using Supermachine.Guest;

namespace Supermachine.Fuzz.Targets;

/// <summary>
/// A whole agent session against a hostile guest, through the public <see cref="AgentConnection"/>
/// (threads, credit, timers and all): the first input byte picks an operation (exec, read file,
/// workload log, write file), the rest is what the guest sends once the host has opened the
/// operation's stream (see <see cref="HostileGuestChannel"/>). <see cref="FramesTarget"/> covers
/// the frame parser alone, faster and deterministically.
/// </summary>
internal sealed class SessionTarget : IFuzzTarget
{
    public string Name => "session";

    public void Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }
        var channel = new HostileGuestChannel(input[1..]);
        Task.Run(async () =>
        {
            AgentConnection connection = await AgentConnection.ConnectAsync(channel);
            await using (connection.ConfigureAwait(false))
            {
                switch (input[0] % 4)
                {
                    case 0:
                        await connection.ExecAsync(new ExecRequest(["/bin/true"]));
                        break;
                    case 1:
                        await connection.ReadFileAsync("/etc/hosts", maxBytes: 1 << 20);
                        break;
                    case 2:
                        await connection.GetWorkloadLogAsync();
                        break;
                    default:
                        await connection.WriteFileAsync("/tmp/f", new byte[100_000]);
                        break;
                }
            }
        }).GetAwaiter().GetResult();
    }

    public IEnumerable<(string Name, byte[] Content)> Seeds()
    {
        byte[] U32s(params uint[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
        byte[] open = HostileGuestChannel.Frame(FrameType.Open, 0, 1, []);
        byte[] stdout = HostileGuestChannel.Frame(FrameType.Data, 1, 1, "hello\n"u8.ToArray());
        byte[] stderr = HostileGuestChannel.Frame(FrameType.Data, 2, 1, "oops\n"u8.ToArray());
        byte[] close1 = HostileGuestChannel.Frame(FrameType.Close, 1, 1, []);
        byte[] close2 = HostileGuestChannel.Frame(FrameType.Close, 2, 1, []);
        byte[] window = HostileGuestChannel.Frame(FrameType.Window, 0, 1, U32s(1 << 20));
        byte[] exit = HostileGuestChannel.Frame(FrameType.Exit, 0, 1, U32s(0, 0, 0));
        byte[] error = HostileGuestChannel.Frame(FrameType.Error, 0, 1, [.. U32s(2, 5), .. "nope\n"u8.ToArray()]);
        yield return ("exec", [0, .. open, .. stdout, .. stderr, .. close1, .. close2, .. exit]);
        yield return ("exec-error", [0, .. error]);
        yield return ("readfile", [1, .. open, .. stdout, .. close1, .. exit]);
        yield return ("log", [2, .. open, .. stdout, .. close1, .. close2, .. exit]);
        yield return ("writefile", [3, .. open, .. window, .. window, .. exit]);
    }
}
