using System.Buffers.Binary;
using Supermachine.Diagnostics;
using Supermachine.Guest;

namespace Supermachine.Tests.Guest;

/// <summary>
/// The host side of the agent protocol against a guest that breaks every rule it can: code in a
/// VM runs as root and can write any bytes to the agent port. Every case ends in a coded error
/// (never a crash, a raw exception or a hang: each wait here is bounded), and what the host keeps
/// in memory stays bounded by the window it granted or a fixed cap.
/// </summary>
public class HostileGuestTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>For guests that answer badly: failures must come from what the guest sent, not a timer, however loaded the machine.</summary>
    private static readonly AgentConnectionOptions Patient = new() { HelloTimeout = Bound, OperationTimeout = TimeSpan.FromSeconds(5) };

    /// <summary>For guests that do not answer, or answer with frames cut short.</summary>
    private static readonly AgentConnectionOptions Impatient = new() { HelloTimeout = Bound, OperationTimeout = TimeSpan.FromSeconds(1) };

    /// <summary>Frames the protocol does not allow from a guest, each sent on the stream of a pending file read (stream 1).</summary>
    public static TheoryData<string, byte[]> Violations => new()
    {
        { "no magic", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] },
        { "frame type 0", FakeGuest.RawFrame(0, 0, 1, []) },
        { "frame type 10", FakeGuest.RawFrame(10, 0, 1, []) },
        { "frame type 255", FakeGuest.RawFrame(255, 0, 1, []) },
        { "SIGNAL, a host-only type", FakeGuest.Frame(FrameType.Signal, 0, 1, FakeGuest.U32(9)) },
        { "ABORT, a host-only type", FakeGuest.Frame(FrameType.Abort, 0, 1, []) },
        { "DATA on channel 0", FakeGuest.Frame(FrameType.Data, 0, 1, "x"u8) },
        { "DATA on channel 3", FakeGuest.Frame(FrameType.Data, 3, 1, "x"u8) },
        { "EXIT on channel 1", FakeGuest.Frame(FrameType.Exit, 1, 1, new byte[12]) },
        { "a length of 65537", FakeGuest.Frame(FrameType.Data, 1, 1, [], claimedLength: 65537) },
        { "a length of 4 GiB", FakeGuest.Frame(FrameType.Data, 1, 1, [], claimedLength: uint.MaxValue) },
        { "empty DATA", FakeGuest.Frame(FrameType.Data, 1, 1, []) },
        { "CLOSE with a payload", FakeGuest.Frame(FrameType.Close, 1, 1, [0]) },
        { "a 3-byte WINDOW", FakeGuest.Frame(FrameType.Window, 0, 1, [1, 2, 3]) },
        { "a 13-byte EXIT", FakeGuest.Frame(FrameType.Exit, 0, 1, new byte[13]) },
        { "an OPEN ack of 9 bytes", FakeGuest.Frame(FrameType.Open, 0, 1, new byte[9]) },
        { "an ERROR string past its frame", FakeGuest.Frame(FrameType.Error, 0, 1, [.. FakeGuest.U32(2), .. FakeGuest.U32(100), .. "abc"u8]) },
        { "an ERROR with bytes after its string", FakeGuest.Frame(FrameType.Error, 0, 1, [.. FakeGuest.U32(2), .. FakeGuest.U32(1), .. "ab"u8]) },
        { "a stream the host never opened", FakeGuest.Frame(FrameType.Data, 1, 99, "x"u8) },
        { "DATA on stream 0", FakeGuest.Frame(FrameType.Data, 1, 0, "x"u8) },
        { "EXIT on stream 0", FakeGuest.Frame(FrameType.Exit, 0, 0, new byte[12]) },
        { "ERROR on stream 0", FakeGuest.Frame(FrameType.Error, 0, 0, [.. FakeGuest.U32(71), .. FakeGuest.U32(3), .. "bad"u8]) },
        { "DATA after CLOSE", [.. FakeGuest.Frame(FrameType.Close, 1, 1, []), .. FakeGuest.Frame(FrameType.Data, 1, 1, "x"u8)] },
        { "WINDOW credit of 4 GiB", FakeGuest.Frame(FrameType.Window, 0, 1, FakeGuest.U32(uint.MaxValue)) },
        { "WINDOW credit for bytes the host never sent", FakeGuest.Frame(FrameType.Window, 0, 1, FakeGuest.U32(1)) },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task A_frame_the_protocol_does_not_allow_fails_the_connection_with_SM3002(string what, byte[] bytes)
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Patient);
        Task<byte[]> read = guest.Connection.ReadFileAsync("/etc/hosts");
        Assert.Equal(1u, (await guest.ExpectAsync(FrameType.Open)).Stream);
        await guest.SendAsync(bytes);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => read.WaitAsync(Bound));
        Assert.True(e.Code == "SM3002", $"{what}: {e.Message}");
        // The connection is closed: later calls fail at once with the same code, nothing waits.
        var later = await Assert.ThrowsAsync<SupermachineException>(() => guest.Connection.GetWorkloadLogAsync().WaitAsync(Bound));
        Assert.Equal("SM3002", later.Code);
    }

    /// <summary>Operations, each waiting on the guest for something (an acknowledgement, an exit).</summary>
    public static TheoryData<string> Operations => ["start a command", "read a file", "write a file", "read the workload log", "export changes", "start the workload", "connect to a port", "wait for a port", "shut down"];

    private static Task RunAsync(AgentConnection c, string operation) => operation switch
    {
        "start a command" => c.StartExecAsync(new ExecRequest(["sh"])),
        "read a file" => c.ReadFileAsync("/etc/hosts"),
        "write a file" => c.WriteFileAsync("/tmp/file", new byte[10]),
        "read the workload log" => c.GetWorkloadLogAsync(),
        "export changes" => c.ExportChangesAsync(Stream.Null),
        "start the workload" => c.StartWorkloadAsync(new WorkloadSpec { Arguments = ["sleep", "1"] }),
        "connect to a port" => c.OpenPortForwardAsync(8080),
        "wait for a port" => c.WaitForPortAsync(8080, TimeSpan.FromMilliseconds(100)),
        "shut down" => c.ShutdownAsync(TimeSpan.Zero),
        _ => throw new ArgumentOutOfRangeException(nameof(operation)),
    };

    [Theory]
    [MemberData(nameof(Operations))]
    public async Task A_guest_that_never_answers_fails_the_operation_with_SM3020_and_the_connection_stays_usable(string operation)
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Impatient);
        Task call = RunAsync(guest.Connection, operation);
        uint stream = (await guest.ExpectAsync(FrameType.Open)).Stream;
        var e = await Assert.ThrowsAsync<SupermachineException>(() => call.WaitAsync(Bound));
        Assert.Equal("SM3020", e.Code);
        // The abandoned operation is torn down in the guest too.
        Assert.Equal(stream, (await guest.ExpectAsync(FrameType.Abort)).Stream);

        Task<byte[]> read = guest.Connection.ReadFileAsync("/etc/hostname");
        uint next = (await guest.ExpectAsync(FrameType.Open)).Stream;
        await guest.SendAsync([
            .. FakeGuest.Frame(FrameType.Open, 0, next, FakeGuest.U64(2)), .. FakeGuest.Frame(FrameType.Data, 1, next, "hi"u8),
            .. FakeGuest.Frame(FrameType.Close, 1, next, []), .. FakeGuest.Frame(FrameType.Exit, 0, next, new byte[12])]);
        Assert.Equal("hi"u8.ToArray(), await read.WaitAsync(Bound));
    }

    [Fact]
    public async Task A_guest_that_goes_silent_in_the_middle_of_a_file_fails_the_read_with_SM3020()
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Impatient);
        Task<byte[]> read = guest.Connection.ReadFileAsync("/big");
        uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
        await guest.SendAsync([.. FakeGuest.Frame(FrameType.Open, 0, id, FakeGuest.U64(1_000_000)), .. FakeGuest.Frame(FrameType.Data, 1, id, new byte[1000])]);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => read.WaitAsync(Bound));
        Assert.Equal("SM3020", e.Code);
        Assert.Contains("read /big", e.Message);
    }

    [Fact]
    public async Task A_guest_that_grants_no_more_credit_fails_a_file_write_with_SM3020()
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Impatient);
        Task write = guest.Connection.WriteFileAsync("/big", new byte[1024 * 1024]);
        uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
        await guest.SendAsync(FrameType.Open, 0, id, []);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => write.WaitAsync(Bound));
        Assert.Equal("SM3020", e.Code);
    }

    [Fact]
    public async Task A_command_may_stay_silent_longer_than_the_operation_timeout()
    {
        // The timeout is for the agent, not the workload: a quiet command is not a hung guest.
        await using FakeGuest guest = await FakeGuest.StartAsync(Impatient);
        Task<ExecResult> exec = guest.Connection.ExecAsync(new ExecRequest(["sleep", "1"]));
        uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
        await guest.SendAsync(FrameType.Open, 0, id, FakeGuest.U32(42));
        await Task.Delay(2500);
        Assert.False(exec.IsCompleted);
        await guest.SendAsync([
            .. FakeGuest.Frame(FrameType.Data, 1, id, "late\n"u8), .. FakeGuest.Frame(FrameType.Close, 1, id, []),
            .. FakeGuest.Frame(FrameType.Close, 2, id, []), .. FakeGuest.Frame(FrameType.Exit, 0, id, new byte[12])]);
        ExecResult r = await exec.WaitAsync(Bound);
        Assert.Equal("late\n", r.StandardOutput);
    }

    [Fact]
    public async Task A_guest_that_stops_reading_the_channel_ends_the_connection_with_SM3021()
    {
        // A small send buffer on the host's end, so a frame the guest does not read blocks the writer.
        await using FakeGuest guest = await FakeGuest.StartAsync(Impatient, hostSendBuffer: 4096);
        Task write = guest.Connection.WriteFileAsync("/big", new byte[4 * 1024 * 1024]);
        uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
        guest.StopReading();
        await guest.SendAsync(FrameType.Open, 0, id, []);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => write.WaitAsync(Bound));
        Assert.Equal("SM3021", e.Code);
        var later = await Assert.ThrowsAsync<SupermachineException>(() => guest.Connection.GetWorkloadLogAsync().WaitAsync(Bound));
        Assert.Equal("SM3021", later.Code);
    }

    [Fact]
    public async Task Flooded_command_output_stops_at_MaxOutputBytes_with_SM3007_and_the_command_is_aborted()
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Patient);
        Task<ExecResult> exec = guest.Connection.ExecAsync(new ExecRequest(["yes"]) { MaxOutputBytes = 1024 * 1024 });
        uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
        await guest.SendAsync(FrameType.Open, 0, id, FakeGuest.U32(7));
        Task<long> flood = guest.FloodAsync(id, 1, 1L << 30);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => exec.WaitAsync(Bound));
        Assert.Equal("SM3007", e.Code);
        Assert.Equal(id, (await guest.ExpectAsync(FrameType.Abort)).Stream);
        long sent = await flood.WaitAsync(Bound);
        Assert.True(sent < 2 * 1024 * 1024, $"the host took {sent} bytes past a 1 MiB limit");
    }

    [Fact]
    public async Task A_hostile_workload_log_keeps_its_first_2_MiB_and_an_SM3022_line()
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Patient);
        Task<WorkloadLog> reading = guest.Connection.GetWorkloadLogAsync();
        uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
        await guest.SendAsync(FrameType.Open, 0, id, FakeGuest.U64(1L << 40));
        Task<long> flood = guest.FloodAsync(id, 1, 1L << 30);
        WorkloadLog log = await reading.WaitAsync(Bound);
        Assert.True(log.Truncated);
        Assert.False(log.Running);
        Assert.False(log.Exited);
        Assert.Equal(AgentConnection.WorkloadLogCap, log.Content.AsSpan().IndexOf("\nSM3022"u8));
        Assert.EndsWith("\n", log.Text);
        Assert.True(log.Content.Length < AgentConnection.WorkloadLogCap + 1024);
        Assert.Equal(id, (await guest.ExpectAsync(FrameType.Abort)).Stream);
        Assert.True(await flood.WaitAsync(Bound) < 3 * 1024 * 1024);
    }

    public static TheoryData<string, byte[]> BadHellos => new()
    {
        { "bytes after the version string", FakeGuest.HelloReply(0, tail: [0]) },
        { "a flag protocol 1 does not define", FakeGuest.HelloReply(0, flags: 8) },
        { "a maximum payload of 1 MiB", FakeGuest.HelloReply(0, maxPayload: 1 << 20) },
        { "a window of 4 GiB", FakeGuest.HelloReply(0, window: uint.MaxValue) },
        { "a version string past the frame", FakeGuest.HelloReply(0, stringLength: 900) },
    };

    [Theory]
    [MemberData(nameof(BadHellos))]
    public async Task A_hello_reply_out_of_shape_is_SM3002(string what, byte[] template)
    {
        using var pair = new SocketPair();
        Task<AgentConnection> connecting = AgentConnection.ConnectAsync(pair.Host, Patient);
        (byte _, uint _, byte[] hello) = await FakeGuest.ReadRawFrameAsync(pair.Guest).WaitAsync(Bound);
        hello.AsSpan(16, 8).CopyTo(template.AsSpan(20)); // our nonce, so the reply is the one the host waits for
        await pair.Guest.WriteAsync(template);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => connecting.WaitAsync(Bound));
        Assert.True(e.Code == "SM3002", $"{what}: {e.Message}");
    }

    [Fact]
    public async Task The_hello_is_found_after_garbage_a_stale_half_frame_and_byte_by_byte_delivery()
    {
        using var pair = new SocketPair();
        Task<AgentConnection> connecting = AgentConnection.ConnectAsync(pair.Host, Patient);
        (byte _, uint _, byte[] hello) = await FakeGuest.ReadRawFrameAsync(pair.Guest).WaitAsync(Bound);
        byte[] garbage = new byte[100 * 1024];
        new Random(12).NextBytes(garbage);
        await pair.Guest.WriteAsync(garbage);
        // A HELLO header whose 1000 bytes never come: it must not hide the reply right after it.
        await pair.Guest.WriteAsync(FakeGuest.Frame(FrameType.Hello, 0, 0, [], claimedLength: 1000));
        foreach (byte b in FakeGuest.HelloReply(BinaryPrimitives.ReadUInt64LittleEndian(hello.AsSpan(16)), flags: 2, agentVersion: "9.9"))
        {
            await pair.Guest.WriteAsync(new[] { b });
        }
        await using AgentConnection c = await connecting.WaitAsync(Bound);
        Assert.Equal("9.9", c.Info.AgentVersion);
        Assert.True(c.Info.WorkloadRunning);
    }

    [Fact]
    public async Task Random_bytes_from_the_guest_end_in_a_coded_error_never_a_hang_or_a_crash()
    {
        var random = new Random(20240612);
        var quick = new AgentConnectionOptions { HelloTimeout = Bound, OperationTimeout = TimeSpan.FromMilliseconds(300) };
        for (int round = 0; round < 40; round++)
        {
            await using FakeGuest guest = await FakeGuest.StartAsync(quick);
            Task<byte[]> read = guest.Connection.ReadFileAsync("/etc/hosts");
            uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
            byte[] noise = new byte[random.Next(1, 4096)];
            random.NextBytes(noise);
            if (round % 2 == 0)
            {
                // A valid header start, so the noise gets past the magic check into the fields.
                FakeGuest.RawFrame((byte)random.Next(0, 12), (byte)random.Next(0, 4), (uint)random.Next(0, 3), [], (uint)random.Next(0, 70000)).CopyTo(noise, 0);
            }
            await guest.SendAsync(noise);
            var e = await Assert.ThrowsAsync<SupermachineException>(() => read.WaitAsync(Bound));
            Assert.True(e.Code is "SM3002" or "SM3005" or "SM3020", $"round {round} ({id}): {e.Message}");
        }
    }
}
