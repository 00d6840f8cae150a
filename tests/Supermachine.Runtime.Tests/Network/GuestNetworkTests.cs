using System.Diagnostics;
using System.Formats.Tar;
using System.Net;
using System.Net.Sockets;
using Supermachine.Guest;
using Supermachine.Tests.Guest;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Vmm;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;
using Xunit.Abstractions;

namespace Supermachine.Tests.Network;

/// <summary>
/// The guest's NIC behind passt, in real VMs (TCG): outbound to a "remote host" in a network
/// namespace this test makes, the host's loopback hidden, --network none, restores of a snapshot.
/// </summary>
public class GuestNetworkTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(4);

    private static VmMachineSpec Machine(bool nat, bool snapshottable = false)
    {
        string dir = VmTestAssets.NewDirectory("net");
        GuestAssets assets = GuestAssets.Locate() with { AgentPath = AgentBinary.Path };
        string initrd = Path.Combine(dir, "initramfs.cpio");
        InitramfsBuilder.Write(initrd, assets);
        return new VmMachineSpec
        {
            KernelPath = assets.KernelPath,
            InitrdPath = initrd,
            RootfsPath = GuestFixtureImages.Busybox,
            MemoryMiB = 256,
            Accelerator = Accelerator.Tcg,
            Nat = nat,
            Snapshottable = snapshottable,
        };
    }

    private static async Task<string> ShAsync(GuestInstance guest, string script)
    {
        ExecResult r = await guest.Agent.ExecAsync(new ExecRequest(["/bin/busybox", "sh", "-c", script]) { Timeout = TimeSpan.FromSeconds(60) });
        return r.StandardOutput + r.StandardError;
    }

    /// <summary>Downloads <paramref name="url"/> in the guest and returns its MD5 (or the error).</summary>
    private static Task<string> DownloadMd5Async(GuestInstance guest, string url) =>
        ShAsync(guest, $"busybox wget -q -O /tmp/f {url} && busybox md5sum /tmp/f | busybox cut -d' ' -f1");

    /// <summary>The guest connects to <paramref name="secret"/>'s port at each address; none may get through.</summary>
    private static async Task AssertUnreachableAsync(GuestInstance guest, TcpListener secret, params string[] addresses)
    {
        int port = ((IPEndPoint)secret.LocalEndpoint).Port;
        foreach (string address in addresses)
        {
            string probe = await ShAsync(guest, $"busybox nc -w 3 {address} {port} </dev/null && echo REACHED || echo refused");
            Assert.DoesNotContain("REACHED", probe);
        }
        Assert.False(secret.Pending(), "a guest connection reached a host loopback port that was not offered");
    }

    private static string Md5(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(bytes));

    [RequiresRootFact("qemu-system-x86_64", "musl-gcc", "passt", "ip", "busybox")]
    public async Task A_guest_downloads_from_a_remote_host_and_cannot_reach_the_hosts_loopback()
    {
        await using NamespaceHost remote = await NamespaceHost.StartAsync();
        byte[] file = remote.ServeRandom("file.bin", 4 << 20);
        // A host service on loopback only: no guest connection may ever arrive.
        using var secret = new TcpListener(IPAddress.Loopback, 0);
        secret.Start();

        await using GuestInstance guest = await GuestInstance.BootAsync(new QemuBackend(), Machine(nat: true), Boot, CancellationToken.None);
        var clock = Stopwatch.StartNew();
        Assert.Equal(Md5(file), (await DownloadMd5Async(guest, remote.Url("file.bin"))).Trim());
        output.WriteLine($"4 MiB from the namespace host in {clock.ElapsedMilliseconds} ms");

        Assert.Equal("nameserver 10.0.2.3\n", await ShAsync(guest, "busybox cat /etc/resolv.conf"));
        string routes = await ShAsync(guest, "busybox cat /proc/net/route");
        Assert.Contains("eth0\t00000000\t0202000A", routes); // default via 10.0.2.2

        await AssertUnreachableAsync(guest, secret, "10.0.2.2", "10.0.2.3", remote.HostSideAddress);

        // The resolv.conf the agent wrote belongs to the running guest, not to an exported layer.
        await ShAsync(guest, "echo kept > /etc/guest-file");
        using var layer = new MemoryStream();
        await guest.Agent.ExportChangesAsync(layer);
        layer.Position = 0;
        var names = new List<string>();
        using (var reader = new TarReader(layer))
        {
            while (reader.GetNextEntry() is TarEntry entry)
            {
                names.Add(entry.Name);
            }
        }
        Assert.Contains(names, n => n.EndsWith("etc/guest-file", StringComparison.Ordinal));
        Assert.DoesNotContain(names, n => n.EndsWith("resolv.conf", StringComparison.Ordinal));
    }

    [RequiresToolFact("qemu-system-x86_64", "musl-gcc", "passt")]
    public async Task Only_listed_host_ports_are_reachable_as_host_supermachine_internal()
    {
        using var allowed = new TcpListener(IPAddress.Loopback, 0);
        allowed.Start();
        int allowedPort = ((IPEndPoint)allowed.LocalEndpoint).Port;
        using var secret = new TcpListener(IPAddress.Loopback, 0);
        secret.Start();
        Task served = Task.Run(async () =>
        {
            using Socket client = await allowed.AcceptSocketAsync();
            await client.SendAsync("hello from the host\n"u8.ToArray());
            client.Shutdown(SocketShutdown.Both);
        });

        await using GuestInstance guest = await GuestInstance.BootAsync(new QemuBackend(), Machine(nat: true), Boot, CancellationToken.None);
        await using HostPortRelay relay = HostPortRelay.Start(guest.Agent, [allowedPort]);
        Assert.Equal("hello from the host\n", await ShAsync(guest, $"busybox nc host.supermachine.internal {allowedPort} </dev/null"));
        await served.WaitAsync(TimeSpan.FromSeconds(30));

        await AssertUnreachableAsync(guest, secret, "host.supermachine.internal", "10.0.2.2", "10.0.2.3");
    }

    [RequiresToolFact("qemu-system-x86_64", "musl-gcc")]
    public async Task With_network_none_the_guest_has_only_lo_and_no_route()
    {
        await using GuestInstance guest = await GuestInstance.BootAsync(new QemuBackend(), Machine(nat: false), Boot, CancellationToken.None);
        Assert.Equal("lo\n", await ShAsync(guest, "busybox ls /sys/class/net"));
        string routes = await ShAsync(guest, "busybox cat /proc/net/route");
        Assert.Single(routes.Split('\n', StringSplitOptions.RemoveEmptyEntries)); // the header alone
    }

    [RequiresRootFact("qemu-system-x86_64", "musl-gcc", "passt", "ip", "busybox")]
    public async Task Four_concurrent_restores_of_a_snapshot_each_have_outbound_network_at_once()
    {
        await using NamespaceHost remote = await NamespaceHost.StartAsync();
        byte[] file = remote.ServeRandom("small.bin", 256 << 10);
        var backend = new QemuBackend();
        VmMachineSpec spec = Machine(nat: true, snapshottable: true);
        string snapshot = Path.Combine(VmTestAssets.NewDirectory("net-snap"), "snapshot");
        await using (GuestInstance source = await GuestInstance.BootAsync(backend, spec, Boot, CancellationToken.None))
        {
            // Baked with a connection made, as a warm-up would: the restores must not depend on it.
            Assert.Equal(Md5(file), (await DownloadMd5Async(source, remote.Url("small.bin"))).Trim());
            VmSnapshotInfo info = await source.Machine.SaveSnapshotAsync(snapshot);
            Assert.True(info.Nat);
        }

        async Task<TimeSpan> RestoreAndDownloadAsync()
        {
            await using GuestInstance restored = await GuestInstance.RestoreAsync(backend, spec, snapshot, Boot, CancellationToken.None);
            var clock = Stopwatch.StartNew();
            Assert.Equal(Md5(file), (await DownloadMd5Async(restored, remote.Url("small.bin"))).Trim());
            return clock.Elapsed;
        }
        TimeSpan[] firstDownloads = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => RestoreAndDownloadAsync()));
        output.WriteLine("first download after restore: " + string.Join(", ", firstDownloads.Select(t => $"{t.TotalMilliseconds:F0} ms")));
    }
}
