using System.Diagnostics;
using System.Security.Cryptography;
using Supermachine.Guest;
using Supermachine.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Supermachine.Tests.Guest;

/// <summary>The agent as PID 1 of a real guest (QEMU TCG): boot, exec, files, the workload, port forwarding.</summary>
public class GuestVmTests(ITestOutputHelper output)
{
    private static readonly AgentConnectionOptions Slow = new() { HelloTimeout = TimeSpan.FromSeconds(180) };
    private ThrowawayQemu? _vm;

    /// <summary>A hung guest fails its test instead of the whole run: its QEMU is killed, which ends every wait.</summary>
    private async Task WithinAsync(Task test)
    {
        try
        {
            await test.WaitAsync(TimeSpan.FromMinutes(6));
        }
        catch (TimeoutException)
        {
            if (_vm is not null)
            {
                await _vm.KillAsync();
            }
            throw;
        }
    }

    [RequiresToolFact("qemu-system-x86_64", "musl-gcc")]
    public async Task Busybox_guest_runs_commands_as_users_moves_files_and_powers_off()
    {
        await WithinAsync(BusyboxCore());
    }

    private async Task BusyboxCore()
    {
        string rootfs = GuestFixtureImages.Busybox;
        _ = AgentBinary.Path;
        var clock = Stopwatch.StartNew();
        await using ThrowawayQemu vm = _vm = ThrowawayQemu.Boot(rootfs);
        await using AgentConnection agent = await AgentConnection.ConnectAsync(await vm.ConnectAgentAsync(), Slow);
        ExecResult first = await agent.ExecAsync(new ExecRequest(["echo", "hello from the guest"]));
        output.WriteLine($"boot to first exec under TCG: {clock.Elapsed.TotalSeconds:F2} s");
        output.WriteLine(vm.ConsoleTail());
        Assert.Equal("hello from the guest\n", first.StandardOutput);
        Assert.True(agent.Info.IsInit, vm.ConsoleTail());

        ExecResult codes = await agent.ExecAsync(new ExecRequest(["sh", "-c", "echo out; echo err >&2; exit 5"]));
        Assert.Equal((5, "out\n", "err\n"), (codes.ExitCode, codes.StandardOutput, codes.StandardError));

        // Users from the image's /etc/passwd and /etc/group; root by default.
        Assert.Equal("0:0\n", (await agent.ExecAsync(new ExecRequest(["sh", "-c", "echo $(id -u):$(id -g)"]))).StandardOutput);
        Assert.Equal("65534:65534 /nonexistent\n", (await agent.ExecAsync(new ExecRequest(["sh", "-c", "echo $(id -u):$(id -g) $HOME"]) { User = "nobody" })).StandardOutput);
        Assert.Equal("123:456\n", (await agent.ExecAsync(new ExecRequest(["sh", "-c", "echo $(id -u):$(id -g)"]) { User = "123:456" })).StandardOutput);

        // The overlay root: writable, with /proc, /dev and /tmp, and the loopback interface up.
        ExecResult env = await agent.ExecAsync(new ExecRequest(["sh", "-c", "pwd; echo $GREETING; cat /proc/1/comm; test -c /dev/null && echo dev"])
        {
            WorkingDirectory = "/tmp",
            Environment = new Dictionary<string, string> { ["GREETING"] = "hi" },
        });
        Assert.Equal("/tmp\nhi\ninit\ndev\n", env.StandardOutput);

        byte[] data = RandomNumberGenerator.GetBytes(10 * 1024 * 1024);
        var sw = Stopwatch.StartNew();
        ExecResult echoed = await agent.ExecAsync(new ExecRequest(["cat"]) { StandardInput = data });
        output.WriteLine($"10 MiB through cat and back: {sw.Elapsed.TotalSeconds:F2} s");
        Assert.True(data.AsSpan().SequenceEqual(echoed.StandardOutputBytes), "10 MiB through the guest's cat came back different");

        byte[] file = RandomNumberGenerator.GetBytes(300_000);
        await agent.WriteFileAsync("/root/data/blob", file, mode: 0x180);
        Assert.Equal(file, await agent.ReadFileAsync("/root/data/blob"));
        Assert.Equal("600 300000\n", (await agent.ExecAsync(new ExecRequest(["stat", "-c", "%a %s", "/root/data/blob"]))).StandardOutput);

        ExecResult slow = await agent.ExecAsync(new ExecRequest(["sleep", "60"]) { Timeout = TimeSpan.FromSeconds(1) });
        Assert.True(slow.TimedOut);

        // The guest's RTC starts in 2001 (see ThrowawayQemu): the hello set the clock to the host's.
        long guestNow = long.Parse((await agent.ExecAsync(new ExecRequest(["busybox", "date", "+%s"]))).StandardOutput);
        Assert.InRange(guestNow - DateTimeOffset.UtcNow.ToUnixTimeSeconds(), -120, 120);

        // A new host connection (as after a restore) says hello again and carries on.
        await agent.ReconnectAsync(await vm.ConnectAgentAsync());
        Assert.Equal("again\n", (await agent.ExecAsync(new ExecRequest(["echo", "again"]))).StandardOutput);

        await agent.ShutdownAsync(TimeSpan.FromSeconds(5));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.Equal(0, await vm.WaitForExitAsync(timeout.Token));
        Assert.Contains("powering off", vm.ConsoleTail());
    }

    [RequiresToolFact("qemu-system-x86_64", "musl-gcc")]
    public async Task Changes_made_in_the_guest_export_as_an_oci_layer()
    {
        await WithinAsync(ExportCore());
    }

    private async Task ExportCore()
    {
        string rootfs = GuestFixtureImages.Busybox;
        _ = AgentBinary.Path;
        await using ThrowawayQemu vm = _vm = ThrowawayQemu.Boot(rootfs);
        await using AgentConnection agent = await AgentConnection.ConnectAsync(await vm.ConnectAgentAsync(), Slow);
        // A new file, a deleted lower file, a lower directory replaced by a new one (opaque), a
        // renamed lower directory (redirect_dir=off: mv gets EXDEV and copies), a 16 MiB file.
        ExecResult step = await agent.ExecAsync(new ExecRequest(["sh", "-c", """
            set -e
            echo fresh > /root/new.txt
            rm /usr/share/initramfs-tools/hooks/zz-busybox
            rm -rf /usr/share/lintian
            mkdir /usr/share/lintian
            echo again > /usr/share/lintian/note
            mv /usr/share/initramfs-tools/conf-hooks.d /usr/share/moved
            dd if=/dev/urandom of=/root/blob bs=1M count=16 2>/dev/null
            set -- $(sha256sum /root/blob); echo $1
            grep ' / overlay' /proc/mounts
            """]));
        output.WriteLine(step.StandardOutput + step.StandardError);
        Assert.True(step.ExitCode == 0, step.StandardError);

        var layer = new MemoryStream();
        var clock = Stopwatch.StartNew();
        await agent.ExportChangesAsync(layer);
        output.WriteLine($"export of {layer.Length / 1024} KiB of changes under TCG: {clock.Elapsed.TotalSeconds:F2} s");
        List<(System.Formats.Tar.TarEntry Entry, byte[] Data)> entries = ExportChangesTests.ReadAll(layer.ToArray());
        output.WriteLine(string.Join('\n', entries.Select(e => $"{e.Entry.EntryType} {e.Entry.Name}")));
        byte[] Data(string name) => entries.Single(e => e.Entry.Name == name).Data;
        IEnumerable<string> names = entries.Select(e => e.Entry.Name);

        Assert.Equal("fresh\n", System.Text.Encoding.UTF8.GetString(Data("root/new.txt")));
        Assert.Contains("usr/share/initramfs-tools/hooks/.wh.zz-busybox", names);
        Assert.Contains("usr/share/lintian/.wh..wh..opq", names);
        Assert.Equal("again\n", System.Text.Encoding.UTF8.GetString(Data("usr/share/lintian/note")));
        Assert.DoesNotContain("usr/share/lintian/overrides/", names);
        Assert.Contains("usr/share/initramfs-tools/.wh.conf-hooks.d", names);
        Assert.Equal(16, Data("usr/share/moved/busybox").Length);
        Assert.Equal(step.StandardOutput.Split('\n')[0], Convert.ToHexStringLower(SHA256.HashData(Data("root/blob"))));
        Assert.True(names.ToList().IndexOf("usr/") < names.ToList().IndexOf("usr/share/"), "parents come before children");
    }

    [RequiresToolFact("qemu-system-x86_64", "musl-gcc", "redis-cli")]
    public async Task Redis_workload_runs_as_its_user_and_answers_through_a_forwarded_port()
    {
        await WithinAsync(RedisCore());
    }

    private async Task RedisCore()
    {
        string rootfs = GuestFixtureImages.Redis;
        _ = AgentBinary.Path;
        var clock = Stopwatch.StartNew();
        await using ThrowawayQemu vm = _vm = ThrowawayQemu.Boot(rootfs);
        await using AgentConnection agent = await AgentConnection.ConnectAsync(await vm.ConnectAgentAsync(), Slow);
        int pid = await agent.StartWorkloadAsync(new WorkloadSpec
        {
            Arguments = ["redis-server", "--protected-mode", "no"],
            Environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            WorkingDirectory = "/data",
            User = "redis",
        });
        await agent.WaitForPortAsync(6379, TimeSpan.FromSeconds(120));
        output.WriteLine($"boot to redis listening under TCG: {clock.Elapsed.TotalSeconds:F2} s");

        // The workload runs as the image's user, and execs inherit it, as docker exec does.
        string status = (await agent.ExecAsync(new ExecRequest(["cat", $"/proc/{pid}/status"]))).StandardOutput;
        Assert.Contains("Uid:\t999\t999", status);
        Assert.Equal("999\n", (await agent.ExecAsync(new ExecRequest(["id", "-u"]))).StandardOutput);
        Assert.Equal("PONG\n", (await agent.ExecAsync(new ExecRequest(["redis-cli", "ping"]))).StandardOutput);

        await using var forwarder = AgentPortForwarder.Start(agent, 6379);
        string port = forwarder.EndPoint.Port.ToString();
        Assert.Equal("PONG", (await RunHostAsync("redis-cli", ["-h", "127.0.0.1", "-p", port, "ping"], null)).Trim());
        output.WriteLine($"boot to PONG through the forwarded port: {clock.Elapsed.TotalSeconds:F2} s");

        string value = Convert.ToHexString(RandomNumberGenerator.GetBytes(512 * 1024)); // 1 MiB of text
        Assert.Equal("OK", (await RunHostAsync("redis-cli", ["-h", "127.0.0.1", "-p", port, "-x", "set", "big"], value)).Trim());
        Assert.Equal(value, (await RunHostAsync("redis-cli", ["-h", "127.0.0.1", "-p", port, "--raw", "get", "big"], null)).TrimEnd('\n'));

        WorkloadLog log = await agent.GetWorkloadLogAsync();
        Assert.True(log.Running);
        Assert.Contains("Ready to accept connections", log.Text);
    }

    private static async Task<string> RunHostAsync(string program, string[] args, string? stdin)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
        }
        p.StandardInput.Close();
        Task<string> err = p.StandardError.ReadToEndAsync();
        string text = await p.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(timeout.Token);
        Assert.True(p.ExitCode == 0, $"{program} failed: {await err}");
        return text;
    }
}
