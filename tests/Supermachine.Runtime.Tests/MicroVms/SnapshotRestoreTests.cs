using System.Text;
using System.Text.Json.Nodes;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Tests.Infrastructure;
using Supermachine.Images;


namespace Supermachine.Tests.MicroVms;

/// <summary>Restores of the baked redis image under the real engine (TCG here), talking to redis from the host.</summary>
[Collection(BakedRedisCollection.Name)]
public class SnapshotRestoreTests(BakedRedis baked)
{
    private string CopyImage(string name)
    {
        string destination = Path.Combine(baked.Root, name + "-" + Guid.NewGuid().ToString("N")[..6]);
        ProcessRunner.RunAsync("cp", ["-a", "--sparse=always", baked.Image.Directory, destination]).GetAwaiter().GetResult();
        return destination;
    }

    [RequiresToolFact("qemu-system-x86_64", "redis-cli")]
    public async Task A_restored_guest_already_serves_redis_to_the_host_through_a_forwarded_port()
    {
        await using MicroVm vm = await MicroVm.StartAsync(baked.Image);
        Assert.True(vm.Restored);

        var endpoint = vm.GetEndpoint(6379);
        Assert.Equal("127.0.0.1", endpoint.Address.ToString());
        ProcessResult ping = await ProcessRunner.RunAsync("redis-cli", ["-h", "127.0.0.1", "-p", endpoint.Port.ToString(), "ping"]);
        Assert.Equal("PONG", ping.StandardOutput.Trim());

        byte[] big = new byte[1 << 20];
        new Random(42).NextBytes(big);
        await using RedisClient redis = await RedisClient.ConnectAsync(endpoint);
        Assert.Equal("OK", await redis.StringAsync("SET", "big", big));
        Assert.Equal(big, await redis.CommandAsync("GET", "big"));
        Assert.Equal(vm.GetConnectionString(6379), $"127.0.0.1:{endpoint.Port}");
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Publishing_on_a_host_port_in_use_is_SM3040_and_the_vm_keeps_serving()
    {
        await using MicroVm vm = await MicroVm.StartAsync(baked.Image);
        using var occupant = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        occupant.Start();
        int busy = ((System.Net.IPEndPoint)occupant.LocalEndpoint).Port;

        var e = Assert.Throws<SupermachineException>(() => vm.Publish(6379, busy));
        Assert.Equal("SM3040", e.Code);
        Assert.Contains(busy.ToString(), e.Message);

        await using RedisClient redis = await RedisClient.ConnectAsync(vm.Publish(6379, 0));
        Assert.Equal("PONG", await redis.StringAsync("PING"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Exec_in_a_restored_guest_reports_output_streams_and_exit_codes()
    {
        await using MicroVm vm = await MicroVm.StartAsync(baked.Image);

        ExecResult ping = await vm.ExecAsync(["redis-cli", "ping"]);
        Assert.Equal(0, ping.ExitCode);
        Assert.Equal("PONG\n", ping.StandardOutput);

        ExecResult mixed = await vm.ExecAsync(["sh", "-c", "echo out; echo err >&2; exit 3"]);
        Assert.Equal(3, mixed.ExitCode);
        Assert.Equal("out\n", mixed.StandardOutput);
        Assert.Equal("err\n", mixed.StandardError);

        await vm.WriteFileAsync("/tmp/roundtrip", Encoding.UTF8.GetBytes("hello guest"));
        Assert.Equal("hello guest", Encoding.UTF8.GetString(await vm.ReadFileAsync("/tmp/roundtrip")));

        // The guest's clock was set from the host at restore, not left at bake time.
        ExecResult date = await vm.ExecAsync(["busybox", "date", "+%s"]);
        long guestNow = long.Parse(date.StandardOutput.Trim());
        Assert.InRange(guestNow, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 120, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 120);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Concurrent_restores_of_one_snapshot_are_independent_and_never_write_to_it()
    {
        SnapshotManifest before = SnapshotDirectory.Load(baked.Image.Directory);
        MicroVm[] vms = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => MicroVm.StartAsync(baked.Image)));
        try
        {
            await Task.WhenAll(vms.Select(async (vm, i) =>
            {
                await using RedisClient redis = await RedisClient.ConnectAsync(vm.GetEndpoint(6379));
                Assert.Equal("OK", await redis.StringAsync("SET", "owner", $"vm-{i}"));
            }));
            await Task.WhenAll(vms.Select(async (vm, i) =>
            {
                await using RedisClient redis = await RedisClient.ConnectAsync(vm.GetEndpoint(6379));
                Assert.Equal($"vm-{i}", await redis.StringAsync("GET", "owner"));
            }));
        }
        finally
        {
            await Task.WhenAll(vms.Select(vm => vm.DisposeAsync().AsTask()));
        }
        // Every file still hashes as baked: the restores mapped the RAM privately.
        await SnapshotDirectory.VerifyAsync(baked.Image.Directory, before);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task SnapshotAsync_of_a_running_vm_makes_an_image_that_restores_with_its_data()
    {
        string seeded = Path.Combine(baked.Root, "seeded-" + Guid.NewGuid().ToString("N")[..6]);
        await using (MicroVm vm = await MicroVm.StartAsync(baked.Image))
        {
            await using RedisClient redis = await RedisClient.ConnectAsync(vm.GetEndpoint(6379));
            Assert.Equal("OK", await redis.StringAsync("SET", "seed", "planted before the snapshot"));
            MicroVmImage image = await vm.SnapshotAsync(seeded);
            Assert.True(image.HasSnapshot);
            // The VM goes on serving after its snapshot.
            Assert.Equal("planted before the snapshot", await redis.StringAsync("GET", "seed"));
        }

        await using (MicroVm restored = await MicroVm.StartAsync(MicroVmImage.Load(seeded)))
        {
            await using RedisClient redis = await RedisClient.ConnectAsync(restored.GetEndpoint(6379));
            Assert.Equal("planted before the snapshot", await redis.StringAsync("GET", "seed"));
        }
        await using (MicroVm original = await MicroVm.StartAsync(baked.Image))
        {
            await using RedisClient redis = await RedisClient.ConnectAsync(original.GetEndpoint(6379));
            Assert.Null(await redis.StringAsync("GET", "seed"));
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_moved_image_directory_restores()
    {
        string moved = CopyImage("moved");
        await using MicroVm vm = await MicroVm.StartAsync(MicroVmImage.Load(moved));
        Assert.Equal("PONG\n", (await vm.ExecAsync(["redis-cli", "ping"])).StandardOutput);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_cold_boot_of_the_same_image_starts_the_workload_and_waits_for_its_port()
    {
        await using MicroVm vm = await MicroVm.StartAsync(baked.Image, new MicroVmOptions { ColdBoot = true });
        Assert.False(vm.Restored);
        Assert.Equal("PONG\n", (await vm.ExecAsync(["redis-cli", "ping"])).StandardOutput);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Altered_and_missing_snapshot_files_are_refused_before_booting()
    {
        string altered = CopyImage("altered");
        string state = Path.Combine(altered, "snapshot", "vmstate");
        byte[] bytes = await File.ReadAllBytesAsync(state);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(state, bytes);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(MicroVmImage.Load(altered)));
        Assert.Equal("SM3254", e.Code);
        Assert.Contains("snapshot/vmstate", e.Message);

        string missing = CopyImage("missing");
        File.Delete(Path.Combine(missing, "snapshot", "ram"));
        Assert.Equal("SM3254", Assert.Throws<SupermachineException>(() => MicroVmImage.Load(missing)).Code);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_snapshot_from_another_engine_version_is_refused_saying_a_rebake_fixes_it()
    {
        // As if another QEMU had baked it: the engine's description says so and the manifest vouches for it.
        string other = CopyImage("other-engine");
        string staging = other + ".staging";
        Directory.Move(other, staging);
        string info = Path.Combine(staging, "snapshot", "qemu-snapshot.json");
        JsonNode json = JsonNode.Parse(await File.ReadAllTextAsync(info))!;
        json["EngineVersion"] = "1.0.0";
        await File.WriteAllTextAsync(info, json.ToJsonString());
        await SnapshotDirectory.CommitAsync(staging, other, SnapshotDirectory.Load(baked.Image.Directory));

        var e = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(MicroVmImage.Load(other)));
        Assert.StartsWith("SM32", e.Code);
        Assert.Contains("1.0.0", e.Message);
        Assert.Contains("bake", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
