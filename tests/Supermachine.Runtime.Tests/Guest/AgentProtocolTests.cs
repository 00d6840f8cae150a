using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Guest;

/// <summary>The agent protocol end to end against the real agent in host test mode (no VM).</summary>
public class AgentProtocolTests
{
    private static ExecRequest Sh(string script) => new(["sh", "-c", script]);

    [RequiresToolFact("musl-gcc")]
    public async Task Exec_returns_stdout_stderr_and_exit_code_separately()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        ExecResult r = await c.ExecAsync(Sh("echo out; echo err >&2; exit 3"));
        Assert.Equal(3, r.ExitCode);
        Assert.Null(r.Signal);
        Assert.Equal("out\n", r.StandardOutput);
        Assert.Equal("err\n", r.StandardError);
        Assert.False(c.Info.IsInit);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Exec_takes_stdin_env_and_working_directory()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        ExecResult r = await c.ExecAsync(Sh("cat; echo \"$FOO\"; pwd") with
        {
            StandardInput = "from stdin\n"u8.ToArray(),
            Environment = new Dictionary<string, string> { ["FOO"] = "bar baz" },
            WorkingDirectory = agent.Directory,
        });
        Assert.Equal(0, r.ExitCode);
        Assert.Equal($"from stdin\nbar baz\n{agent.Directory}\n", r.StandardOutput);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Exec_inherits_the_workload_environment_unless_overridden_or_replaced()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        Assert.Equal(0, await c.StartWorkloadAsync(new WorkloadSpec
        {
            Environment = ["PATH=/usr/bin:/bin", "A=1", "B=2"],
            WorkingDirectory = agent.Directory,
        }));
        ExecResult inherited = await c.ExecAsync(Sh("echo $A $B; pwd") with { Environment = new Dictionary<string, string> { ["B"] = "3" } });
        Assert.Equal($"1 3\n{agent.Directory}\n", inherited.StandardOutput);
        ExecResult replaced = await c.ExecAsync(new ExecRequest(["/bin/sh", "-c", "echo \"[$A]\""]) { ReplaceEnvironment = true });
        Assert.Equal("[]\n", replaced.StandardOutput);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Exec_timeout_kills_the_process_group()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        ExecResult r = await c.ExecAsync(Sh("sleep 30 & sleep 30") with { Timeout = TimeSpan.FromMilliseconds(300) });
        Assert.True(r.TimedOut);
        Assert.Equal(9, r.Signal);
        Assert.True(r.Duration < TimeSpan.FromSeconds(25), $"took {r.Duration}");
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Streamed_exec_can_be_signalled_and_killed()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        await using AgentProcess p = await c.StartExecAsync(Sh("trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done"));
        Assert.True(p.Id > 0);
        var reader = new StreamReader(p.StandardOutput);
        Assert.Equal("ready", await reader.ReadLineAsync());
        await p.SignalAsync(15);
        Assert.Equal("got-term", await reader.ReadLineAsync());
        Assert.Equal(7, (await p.WaitForExitAsync()).ExitCode);

        await using AgentProcess q = await c.StartExecAsync(new ExecRequest(["sleep", "30"]));
        await q.KillAsync();
        ExecExit exit = await q.WaitForExitAsync();
        Assert.Equal(9, exit.Signal);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Exec_of_a_missing_program_is_SM3004()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        var e = await Assert.ThrowsAsync<SupermachineException>(() => c.ExecAsync(new ExecRequest(["/no/such/program"])));
        Assert.Equal("SM3004", e.Code);
        Assert.Contains("/no/such/program", e.Message);
        // The connection stays usable after a failed operation.
        Assert.Equal("ok\n", (await c.ExecAsync(Sh("echo ok"))).StandardOutput);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Cancelling_an_exec_kills_it_and_too_much_output_is_SM3007()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => c.ExecAsync(Sh("echo $$ > pid; exec sleep 30") with { WorkingDirectory = agent.Directory }, cts.Token));
        int pid = int.Parse(File.ReadAllText(Path.Combine(agent.Directory, "pid")));
        await WaitUntilGoneAsync(pid);

        var e = await Assert.ThrowsAsync<SupermachineException>(() => c.ExecAsync(Sh("head -c 5000000 /dev/zero") with { MaxOutputBytes = 100_000 }));
        Assert.Equal("SM3007", e.Code);
        Assert.Equal("still\n", (await c.ExecAsync(Sh("echo still"))).StandardOutput);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Signals_to_the_agent_reach_the_workload_and_orphans_are_reaped()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        await c.StartWorkloadAsync(new WorkloadSpec
        {
            Arguments = ["sh", "-c", "trap 'echo got-term; exit 3' TERM; echo up; while :; do sleep 0.05; done"],
            Environment = ["PATH=/usr/bin:/bin"],
        });
        await WaitForLogAsync(c, l => l.Text.Contains("up"));
        Assert.Equal(0, Kill(agent.ProcessId, 15));
        WorkloadLog log = await WaitForLogAsync(c, l => l.Exited);
        Assert.Contains("got-term", log.Text);
        Assert.Equal(3, log.ExitCode);

        // A grandchild left behind by an exec comes back to the agent, which reaps it.
        ExecResult r = await c.ExecAsync(Sh("sleep 0.2 & echo $!"));
        int orphan = int.Parse(r.StandardOutput);
        await WaitUntilGoneAsync(orphan);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static async Task WaitUntilGoneAsync(int pid)
    {
        // Gone means no /proc entry at all: a zombie would keep one.
        for (int i = 0; i < 400 && Directory.Exists($"/proc/{pid}"); i++)
        {
            await Task.Delay(25);
        }
        Assert.False(Directory.Exists($"/proc/{pid}"), $"process {pid} is still there (alive or a zombie)");
    }

    [RequiresToolFact("musl-gcc")]
    public async Task A_command_that_stops_reading_its_input_early_still_completes()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        ExecResult r = await c.ExecAsync(new ExecRequest(["head", "-c", "10"]) { StandardInput = new byte[10 * 1024 * 1024] });
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(10, r.StandardOutputBytes.Length);
        ExecResult none = await c.ExecAsync(new ExecRequest(["true"]) { StandardInput = new byte[3 * 1024 * 1024] });
        Assert.Equal(0, none.ExitCode);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Ten_MiB_through_stdin_and_back_arrive_intact()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        byte[] data = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);
        ExecResult r = await c.ExecAsync(new ExecRequest(["cat"]) { StandardInput = data });
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(data.Length, r.StandardOutputBytes.Length);
        Assert.True(data.AsSpan().SequenceEqual(r.StandardOutputBytes));
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Files_round_trip_with_their_mode_and_bad_paths_fail_with_SM3005()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        byte[] data = RandomNumberGenerator.GetBytes(700_000);
        string path = Path.Combine(agent.Directory, "sub", "dir", "file.bin");
        await c.WriteFileAsync(path, data, mode: 0x1C0 /* 0700 */);
        Assert.Equal(data, await File.ReadAllBytesAsync(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(path));
        Assert.Equal(data, await c.ReadFileAsync(path));
        await c.WriteFileAsync(Path.Combine(agent.Directory, "empty"), Array.Empty<byte>());
        Assert.Empty(await c.ReadFileAsync(Path.Combine(agent.Directory, "empty")));

        var missing = await Assert.ThrowsAsync<SupermachineException>(() => c.ReadFileAsync(Path.Combine(agent.Directory, "nope")));
        Assert.Equal("SM3005", missing.Code);
        var tooBig = await Assert.ThrowsAsync<SupermachineException>(() => c.ReadFileAsync(path, maxBytes: 1000));
        Assert.Equal("SM3005", tooBig.Code);
        var directory = await Assert.ThrowsAsync<SupermachineException>(() => c.ReadFileAsync(agent.Directory));
        Assert.Equal("SM3005", directory.Code);
        await Assert.ThrowsAsync<ArgumentException>(() => c.ReadFileAsync("relative/path"));
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Port_forward_reaches_a_local_tcp_server_both_ways_with_half_close()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Task echo = Task.Run(async () =>
        {
            using TcpClient client = await listener.AcceptTcpClientAsync();
            NetworkStream s = client.GetStream();
            await s.CopyToAsync(s); // echo until the peer half-closes
            client.Client.Shutdown(SocketShutdown.Send);
        });
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        byte[] data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        await using AgentDuplexStream conn = await c.OpenPortForwardAsync(port);
        Task send = Task.Run(async () =>
        {
            await conn.WriteAsync(data);
            await conn.CompleteWritesAsync();
        });
        var back = new MemoryStream();
        await conn.CopyToAsync(back);
        await send;
        await echo;
        Assert.True(data.AsSpan().SequenceEqual(back.ToArray()));

        var refused = await Assert.ThrowsAsync<SupermachineException>(() => c.OpenPortForwardAsync(FreePort()));
        Assert.Equal("SM3009", refused.Code);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Forwarder_serves_many_host_connections_over_one_channel()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _ = Task.Run(async () =>
        {
            while (true)
            {
                TcpClient client = await listener.AcceptTcpClientAsync();
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        var reader = new StreamReader(client.GetStream());
                        string? line = await reader.ReadLineAsync();
                        await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"hello {line}\n"));
                    }
                });
            }
        });
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        await using var forwarder = AgentPortForwarder.Start(c, port);
        var replies = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var client = new TcpClient();
            await client.ConnectAsync(forwarder.EndPoint);
            await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"n{i}\n"));
            return await new StreamReader(client.GetStream()).ReadToEndAsync();
        }));
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal($"hello n{i}\n", replies[i]);
        }
        Assert.Equal(IPAddress.Loopback, forwarder.EndPoint.Address);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Wait_for_port_returns_once_something_listens_and_times_out_with_SM3006()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        int port = FreePort();
        Task wait = c.WaitForPortAsync(port, TimeSpan.FromSeconds(20));
        await Task.Delay(300);
        Assert.False(wait.IsCompleted);
        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        await wait;

        var e = await Assert.ThrowsAsync<SupermachineException>(() => c.WaitForPortAsync(FreePort(), TimeSpan.FromMilliseconds(200)));
        Assert.Equal("SM3006", e.Code);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task A_fast_producer_is_held_back_by_the_window_on_both_sides()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        long rssBefore = agent.ResidentKiB();

        // Guest to host: 200 MB of output nobody reads for a while.
        await using AgentProcess producer = await c.StartExecAsync(Sh("head -c 200000000 /dev/zero"));
        await Task.Delay(1000);
        long rssStalled = agent.ResidentKiB();
        Assert.True(rssStalled - rssBefore < 8 * 1024, $"agent grew from {rssBefore} KiB to {rssStalled} KiB while the host did not read");
        long total = 0;
        byte[] buffer = new byte[1 << 20];
        int n;
        while ((n = await producer.StandardOutput.ReadAsync(buffer)) > 0)
        {
            total += n;
        }
        Assert.Equal(200_000_000, total);
        Assert.Equal(0, (await producer.WaitForExitAsync()).ExitCode);

        // Host to guest: a command that never reads its input holds the host's writes back.
        await using AgentProcess sleeper = await c.StartExecAsync(new ExecRequest(["sleep", "30"]));
        Task flood = sleeper.StandardInput.WriteAsync(new byte[64 * 1024 * 1024]).AsTask();
        await Task.Delay(1000);
        Assert.False(flood.IsCompleted, "64 MiB went into a process that reads nothing: no flow control");
        Assert.True(agent.ResidentKiB() - rssBefore < 8 * 1024, "the agent buffered the host's flood");
        await sleeper.KillAsync();
        await sleeper.WaitForExitAsync();
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Hello_on_a_new_connection_resets_the_streams_of_the_old_one()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        AgentProcess sleeper = await c.StartExecAsync(new ExecRequest(["sleep", "300"]));
        int pid = sleeper.Id;
        Assert.True(Directory.Exists($"/proc/{pid}"));

        await c.ReconnectAsync(await agent.OpenChannelAsync());
        var e = await Assert.ThrowsAsync<SupermachineException>(() => sleeper.WaitForExitAsync());
        Assert.Equal("SM3003", e.Code);
        for (int i = 0; i < 200 && Directory.Exists($"/proc/{pid}"); i++)
        {
            await Task.Delay(25);
        }
        Assert.False(Directory.Exists($"/proc/{pid}"), "the hello did not end the old exec");
        Assert.Equal("again\n", (await c.ExecAsync(Sh("echo again"))).StandardOutput);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Malformed_frames_are_refused_and_a_hello_recovers()
    {
        await using var agent = HostAgent.Start();
        await using NetworkStream raw = await agent.OpenChannelAsync();
        // Bad magic, then a frame longer than the maximum: each answered by an ERROR on stream 0.
        await raw.WriteAsync(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 });
        (byte type, uint stream, byte[] payload) = await ReadRawFrameAsync(raw);
        Assert.Equal(8, type);
        Assert.Equal(0u, stream);
        Assert.Contains("protocol error", Encoding.UTF8.GetString(payload));

        // While resynchronising, the agent ignores everything up to a HELLO.
        byte[] hello = new byte[12 + 24];
        BinaryPrimitives.WriteUInt16LittleEndian(hello, 0x4D53);
        hello[2] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(8), 24);
        BinaryPrimitives.WriteUInt32LittleEndian(hello.AsSpan(12), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(hello.AsSpan(28), 0xC0FFEE);
        await raw.WriteAsync(new byte[] { 0x53, 0x4D, 3, 0, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F });
        await raw.WriteAsync(hello);
        (type, stream, payload) = await ReadRawFrameAsync(raw);
        Assert.Equal(1, type);
        Assert.Equal(0xC0FFEEul, BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)));

        byte[] oversize = { 0x53, 0x4D, 3, 0, 1, 0, 0, 0, 0x01, 0x00, 0x02, 0x00 };
        await raw.WriteAsync(oversize);
        (type, stream, payload) = await ReadRawFrameAsync(raw);
        Assert.Equal(8, type);
        Assert.Contains("longer than the maximum", Encoding.UTF8.GetString(payload));
    }

    [Fact]
    public async Task A_guest_that_breaks_the_protocol_fails_the_connection_with_SM3002()
    {
        using var pair = new SocketPair();
        Task<AgentConnection> connecting = AgentConnection.ConnectAsync(pair.Host);
        // Play the guest: answer the hello properly, then send an oversized frame.
        (byte _, uint _, byte[] hello) = await ReadRawFrameAsync(pair.Guest);
        await pair.Guest.WriteAsync(FakeGuest.HelloReply(BinaryPrimitives.ReadUInt64LittleEndian(hello.AsSpan(16)), agentVersion: "1"));
        AgentConnection c = await connecting;
        Task<ExecResult> exec = c.ExecAsync(new ExecRequest(["true"]));
        await ReadRawFrameAsync(pair.Guest); // the OPEN
        await pair.Guest.WriteAsync(new byte[] { 0x53, 0x4D, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0x10 });
        var e = await Assert.ThrowsAsync<SupermachineException>(() => exec);
        Assert.Equal("SM3002", e.Code);
        await c.DisposeAsync();
    }

    [Fact]
    public async Task A_silent_guest_is_SM3008_and_another_protocol_version_is_SM3010()
    {
        using (var silent = new SocketPair())
        {
            var e = await Assert.ThrowsAsync<SupermachineException>(() =>
                AgentConnection.ConnectAsync(silent.Host, new AgentConnectionOptions { HelloTimeout = TimeSpan.FromMilliseconds(300) }));
            Assert.Equal("SM3008", e.Code);
        }
        using var pair = new SocketPair();
        Task<AgentConnection> connecting = AgentConnection.ConnectAsync(pair.Host);
        (byte _, uint _, byte[] hello) = await ReadRawFrameAsync(pair.Guest);
        byte[] reply = new byte[12 + 28];
        BinaryPrimitives.WriteUInt16LittleEndian(reply, 0x4D53);
        reply[2] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(reply.AsSpan(8), 28);
        BinaryPrimitives.WriteUInt32LittleEndian(reply.AsSpan(12), 2);
        hello.AsSpan(16, 8).CopyTo(reply.AsSpan(20));
        // Bytes of an earlier connection before the reply are skipped, not misread.
        await pair.Guest.WriteAsync(new byte[] { 0x53, 0x4D, 3, 1, 7, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 2, 3 });
        await pair.Guest.WriteAsync(reply);
        var mismatch = await Assert.ThrowsAsync<SupermachineException>(() => connecting);
        Assert.Equal("SM3010", mismatch.Code);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task The_workload_log_keeps_its_output_and_exit_status()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        int pid = await c.StartWorkloadAsync(new WorkloadSpec { Arguments = ["sh", "-c", "echo started; echo oops >&2; exec sleep 30"], Environment = ["PATH=/usr/bin:/bin"] });
        Assert.True(pid > 0);
        WorkloadLog log = await WaitForLogAsync(c, l => l.Text.Contains("oops"));
        Assert.True(log.Running);
        Assert.Contains("started\n", log.Text);
        var again = await Assert.ThrowsAsync<SupermachineException>(() => c.StartWorkloadAsync(new WorkloadSpec { Arguments = ["true"] }));
        Assert.Equal("SM3011", again.Code);

        await c.SignalWorkloadAsync(15);
        log = await WaitForLogAsync(c, l => l.Exited);
        Assert.False(log.Running);
        Assert.Equal(15, log.Signal);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Shutdown_stops_the_agent_after_its_workload()
    {
        await using var agent = HostAgent.Start();
        AgentConnection c = await agent.ConnectAsync();
        await c.StartWorkloadAsync(new WorkloadSpec { Arguments = ["sleep", "300"], Environment = ["PATH=/usr/bin:/bin"] });
        await c.ShutdownAsync(TimeSpan.FromSeconds(5));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await agent.Process.WaitForExitAsync(timeout.Token);
        Assert.Equal(0, agent.Process.ExitCode);
    }

    internal static async Task<WorkloadLog> WaitForLogAsync(AgentConnection c, Func<WorkloadLog, bool> done)
    {
        WorkloadLog log = await c.GetWorkloadLogAsync();
        for (int i = 0; i < 400 && !done(log); i++)
        {
            await Task.Delay(50);
            log = await c.GetWorkloadLogAsync();
        }
        Assert.True(done(log), "workload log never got there: " + log.Text);
        return log;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static Task<(byte Type, uint Stream, byte[] Payload)> ReadRawFrameAsync(Stream s) => FakeGuest.ReadRawFrameAsync(s);
}
