using System.Net.Sockets;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Images;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.MicroVms;
using Supermachine.Vmm.Network;
using Xunit.Abstractions;

namespace Supermachine.Tests.Network;

/// <summary>
/// Private networks between VMs: members reach each other by alias on any port, keep the NAT, and
/// carry on when a member leaves or dies. Restores of one baked redis snapshot, so each member gets
/// its identity from the host after the restore.
/// </summary>
[Collection(BakedRedisCollection.Name)]
public class PrivateNetworkTests(BakedRedis baked, ITestOutputHelper output)
{
    private static async Task<string> ShAsync(MicroVm vm, string script)
    {
        ExecResult r = await vm.ExecAsync(new ExecRequest(["sh", "-c", script]) { Timeout = TimeSpan.FromSeconds(60) });
        return (r.StandardOutput + r.StandardError).Trim();
    }

    [RequiresToolFact("qemu-system-x86_64", "passt")]
    public async Task Members_reach_each_other_by_alias_and_a_member_that_dies_does_not_break_the_others()
    {
        MicroVmNetwork network = MicroVmNetwork.CreateUnique();
        await using MicroVm db = await MicroVm.StartAsync(baked.Image, new MicroVmOptions { Network = network, Aliases = ["db"] });
        await using MicroVm app = await MicroVm.StartAsync(baked.Image, new MicroVmOptions { Network = network, Aliases = ["app", "web"] });
        MicroVm doomed = await MicroVm.StartAsync(baked.Image, new MicroVmOptions { Network = network, Aliases = ["doomed"] });
        try
        {
            Assert.NotEqual(db.NetworkAddress, app.NetworkAddress);
            Assert.Equal("PONG", await ShAsync(app, "redis-cli -h db ping"));
            Assert.Equal("PONG", await ShAsync(db, "redis-cli -h web ping"));
            Assert.Equal("PONG", await ShAsync(doomed, "redis-cli -h db ping"));
            Assert.Contains("doomed", await ShAsync(app, "cat /etc/hosts"));
            output.WriteLine(await ShAsync(app, "cat /etc/hosts"));

            // A second VM may not take an alias a live member holds.
            var taken = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(baked.Image, new MicroVmOptions { Network = network, Aliases = ["db"] }));
            Assert.Equal(Errors.Codes.NetworkAliasTaken, taken.Code);

            await doomed.Machine.KillAsync();
            Assert.Equal("PONG", await ShAsync(app, "redis-cli -h db ping"));
            Assert.Equal("PONG", await ShAsync(db, "redis-cli -h app ping"));
        }
        finally
        {
            await doomed.DisposeAsync();
        }
        // The dead member's alias left every guest's /etc/hosts (the members' polls saw it go).
        for (int i = 0; i < 40 && (await ShAsync(app, "cat /etc/hosts")).Contains("doomed", StringComparison.Ordinal); i++)
        {
            await Task.Delay(250);
        }
        Assert.DoesNotContain("doomed", await ShAsync(app, "cat /etc/hosts"));
    }

    [RequiresToolFact("qemu-system-x86_64", "passt")]
    public async Task A_bake_on_a_private_network_warms_up_against_a_member_and_its_snapshot_leaves_the_network()
    {
        MicroVmNetwork network = MicroVmNetwork.CreateUnique();
        await using MicroVm db = await MicroVm.StartAsync(baked.Image, new MicroVmOptions { Network = network, Aliases = ["db"] });
        string root = Path.Combine(baked.Root, "on-network");
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(BakedRedis.Reference, k => k switch
        {
            "Name" => "client",
            "Port" => "6379",
            "Network" => network.Name,
            "Aliases" => "client",
            "Warmup" => "redis-cli -h db set warmed-by client && redis-cli -h db ping | grep -q PONG",
            _ => null,
        });
        var image = new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(root, "client"), new BakeOptions { CacheDirectory = Path.Combine(root, "cache") }));
        Assert.Equal("client", await ShAsync(db, "redis-cli get warmed-by"));

        // Restored without a network: the bake's network identity is gone.
        await using (MicroVm alone = await MicroVm.StartAsync(image))
        {
            Assert.DoesNotContain("db", await ShAsync(alone, "cat /etc/hosts"));
            Assert.Equal("down", await ShAsync(alone, "cat /sys/class/net/eth1/operstate"));
        }
        // Restored onto the network: a member like any other.
        await using MicroVm again = await MicroVm.StartAsync(image, new MicroVmOptions { Network = network, Aliases = ["client"] });
        Assert.Equal("PONG", await ShAsync(again, "redis-cli -h db ping"));
    }

    [RequiresToolFact("qemu-system-x86_64", "passt")]
    public async Task Aliases_need_a_network_and_a_valid_hostname()
    {
        var noNetwork = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(baked.Image, new MicroVmOptions { Aliases = ["db"] }));
        Assert.Equal(Errors.Codes.InvalidNetworkName, noNetwork.Code);
        var badAlias = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(baked.Image, new MicroVmOptions { Network = MicroVmNetwork.CreateUnique(), Aliases = ["no spaces"] }));
        Assert.Equal(Errors.Codes.InvalidNetworkName, badAlias.Code);
        Assert.Equal(Errors.Codes.InvalidNetworkName, Assert.Throws<SupermachineException>(() => MicroVmNetwork.Named("../x")).Code);
        Assert.True(MicroVmNetwork.Named("NONE").IsNone);
    }
}

/// <summary>The switch takes whatever a hostile guest sends without failing, and keeps switching.</summary>
public class FrameSwitchTests
{
    [Fact]
    public async Task Garbage_frames_are_dropped_and_frames_between_members_still_arrive()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        string dir = Directory.CreateTempSubdirectory("sm-switch-").FullName;
        try
        {
            using FrameSwitch sw = FrameSwitch.Start(Path.Combine(dir, "switch.sock"));
            using Socket a = Member(Path.Combine(dir, "a.sock")), b = Member(Path.Combine(dir, "b.sock"));
            var target = new UnixDomainSocketEndPoint(Path.Combine(dir, "switch.sock"));
            byte[] garbage = new byte[70000];
            Random.Shared.NextBytes(garbage);
            foreach (int length in new[] { 0, 1, 13, 14, 60, 1514, 65000 })
            {
                a.SendTo(garbage.AsSpan(0, length), target);
            }
            // From a multicast source MAC: dropped rather than learned.
            a.SendTo(Frame(dst: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], src: [0x01, 0, 0, 0, 0, 1], "spoof"), target);
            // b announces itself (broadcast), then a sends to b's MAC: b gets it.
            b.SendTo(Frame(dst: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], src: [2, 0, 0, 0, 0, 0xb], "hello"), target);
            a.SendTo(Frame(dst: [2, 0, 0, 0, 0, 0xb], src: [2, 0, 0, 0, 0, 0xa], "to b"), target);
            byte[] received = new byte[65536];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            string text = "";
            while (!text.EndsWith("to b", StringComparison.Ordinal))
            {
                int n = await b.ReceiveAsync(received, SocketFlags.None, timeout.Token);
                text = System.Text.Encoding.ASCII.GetString(received, 14, n - 14);
                Assert.NotEqual("spoof", text);
            }
            for (var clock = System.Diagnostics.Stopwatch.StartNew(); sw.Dropped < 4 && clock.Elapsed < TimeSpan.FromSeconds(5);)
            {
                await Task.Delay(10);
            }
            Assert.True(sw.Dropped >= 4, $"dropped {sw.Dropped}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Socket Member(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return socket;
    }

    private static byte[] Frame(byte[] dst, byte[] src, string payload) =>
        [.. dst, .. src, 0x08, 0x00, .. System.Text.Encoding.ASCII.GetBytes(payload)];
}
