using Supermachine.Guest;
using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;
using InfraProcess = Supermachine.Tests.Infrastructure.ProcessRunner;
using Supermachine.Images;

namespace Supermachine.Tests.MicroVms;

/// <summary>Pools of the baked redis image under the real engine (TCG here): fresh state per lease, replacement, bounds, disposal.</summary>
[Collection(BakedRedisCollection.Name)]
public class MicroVmPoolTests(BakedRedis baked)
{
    private static readonly TimeSpan Bounded = TimeSpan.FromMinutes(2);

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Each_lease_is_a_fresh_vm_and_a_release_starts_a_replacement()
    {
        await using var pool = new MicroVmPool(baked.Image, new MicroVmPoolOptions { MinIdle = 1, Max = 2 });
        await pool.WarmUpAsync().WaitAsync(Bounded);
        Assert.Equal(1, pool.IdleCount);

        MicroVm first;
        await using (MicroVmLease lease = await pool.AcquireAsync())
        {
            first = lease.Vm;
            Assert.True(first.Restored);
            await using RedisClient redis = await RedisClient.ConnectAsync(first.GetEndpoint(6379));
            Assert.Equal("OK", await redis.StringAsync("SET", "written-by", "first lease"));
            Assert.Equal("first lease", await redis.StringAsync("GET", "written-by"));
        }
        // The released VM is stopped, never handed out again.
        Assert.Throws<ObjectDisposedException>(() => first.GetEndpoint(6379));

        await using (MicroVmLease lease = await pool.AcquireAsync())
        {
            Assert.NotSame(first, lease.Vm);
            Assert.Equal($"127.0.0.1:{lease.Vm.GetEndpoint(6379).Port}", lease.GetConnectionString());
            await using RedisClient redis = await RedisClient.ConnectAsync(lease.Vm.GetEndpoint(6379));
            Assert.Null(await redis.StringAsync("GET", "written-by"));
            Assert.Equal("PONG", await redis.StringAsync("PING"));
        }

        // Both releases were replaced: one VM ready again, nothing else running.
        await pool.WarmUpAsync().WaitAsync(Bounded);
        Assert.Equal(1, pool.IdleCount);
        Assert.Equal(1, pool.Count);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Max_makes_an_acquire_wait_for_a_release_and_a_waiting_acquire_can_be_cancelled()
    {
        await using var pool = new MicroVmPool(baked.Image, new MicroVmPoolOptions { MinIdle = 0, Max = 2 });
        MicroVmLease a = await pool.AcquireAsync().WaitAsync(Bounded);
        MicroVmLease b = await pool.AcquireAsync().WaitAsync(Bounded);
        Assert.Equal(2, pool.Count);

        using (var cancel = new CancellationTokenSource())
        {
            Task<MicroVmLease> cancelled = pool.AcquireAsync(cancel.Token);
            await Task.Delay(200);
            Assert.False(cancelled.IsCompleted);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Bounded));
        }

        Task<MicroVmLease> third = pool.AcquireAsync();
        // Nothing can complete it but a release: there is no room for a third VM.
        await Task.Delay(1000);
        Assert.False(third.IsCompleted);
        Assert.Equal(2, pool.Count);

        await a.DisposeAsync();
        await using MicroVmLease c = await third.WaitAsync(Bounded);
        Assert.NotSame(a.Vm, c.Vm);
        Assert.NotSame(b.Vm, c.Vm);
        Assert.Equal(2, pool.Count);
        ExecResult ping = await c.Vm.ExecAsync(["redis-cli", "ping"]);
        Assert.Equal("PONG\n", ping.StandardOutput);
        await b.DisposeAsync();
        Assert.Equal(1, pool.Count);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Disposing_the_pool_stops_its_idle_and_leased_vms_and_fails_waiting_acquires()
    {
        int[] before = EngineProcessesOf(baked.Image.Directory, withWatchers: true);
        var pool = new MicroVmPool(baked.Image, new MicroVmPoolOptions { MinIdle = 2, Max = 3 });
        await pool.WarmUpAsync().WaitAsync(Bounded);
        MicroVmLease leased = await pool.AcquireAsync();
        MicroVmLease another = await pool.AcquireAsync();
        MicroVmLease third = await pool.AcquireAsync().WaitAsync(Bounded);
        Task<MicroVmLease> waiting = pool.AcquireAsync();
        int[] engines = EngineProcessesOf(baked.Image.Directory);
        Assert.Equal(3, engines.Length);

        await pool.DisposeAsync();

        Assert.All(engines, pid => Assert.False(IsAlive(pid), $"engine process {pid} outlived the pool"));
        Assert.Empty(EngineProcessesOf(baked.Image.Directory, withWatchers: true).Except(before));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(Bounded));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pool.AcquireAsync());
        Assert.Throws<ObjectDisposedException>(() => leased.Vm.GetEndpoint(6379));
        // Releasing after the pool is gone is harmless.
        await leased.DisposeAsync();
        await another.DisposeAsync();
        await third.DisposeAsync();
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task An_unused_pool_stops_its_idle_vms_after_the_idle_timeout_and_restarts_on_demand()
    {
        await using var pool = new MicroVmPool(baked.Image, new MicroVmPoolOptions { MinIdle = 1, Max = 2, IdleTimeout = TimeSpan.FromMilliseconds(500) });
        await pool.WarmUpAsync().WaitAsync(Bounded);
        Assert.Equal(1, pool.Count);

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (pool.Count != 0 && waited.Elapsed < Bounded)
        {
            await Task.Delay(50);
        }
        Assert.Equal(0, pool.Count);
        Assert.Empty(EngineProcessesOf(baked.Image.Directory));

        await using MicroVmLease lease = await pool.AcquireAsync().WaitAsync(Bounded);
        ExecResult ping = await lease.Vm.ExecAsync(["redis-cli", "ping"]);
        Assert.Equal("PONG\n", ping.StandardOutput);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_failed_background_start_surfaces_on_the_next_acquire()
    {
        string copy = Path.Combine(baked.Root, "pool-damaged-" + Guid.NewGuid().ToString("N")[..6]);
        await InfraProcess.RunAsync("cp", ["-a", "--sparse=always", baked.Image.Directory, copy]);
        await using (var kernel = new FileStream(Path.Combine(copy, Supermachine.Images.ArtifactLayout.Kernel), FileMode.Open, FileAccess.Write))
        {
            kernel.Position = 4096;
            kernel.WriteByte(0x5a);
            kernel.WriteByte(0xa5);
        }
        await using var pool = new MicroVmPool(MicroVmImage.Load(copy), new MicroVmPoolOptions { MinIdle = 1, Max = 1 });

        // The background start fails; the pool gives its slot back and keeps the failure.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (pool.Count != 0 && waited.Elapsed < Bounded)
        {
            await Task.Delay(50);
        }
        Assert.Equal(0, pool.Count);
        SupermachineException failure = await Assert.ThrowsAsync<SupermachineException>(() => pool.AcquireAsync());
        Assert.Equal("SM3254", failure.Code);
    }

    /// <summary>
    /// Live processes whose command line names <paramref name="imageDirectory"/>: the engines
    /// (argv[0] is QEMU), or with <paramref name="withWatchers"/> their owner-watch helpers too.
    /// </summary>
    internal static int[] EngineProcessesOf(string imageDirectory, bool withWatchers = false)
    {
        var pids = new List<int>();
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                string cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                string program = withWatchers ? cmdline : cmdline.Split('\0')[0];
                if (program.Contains("qemu-system", StringComparison.Ordinal) && cmdline.Contains(imageDirectory + "/", StringComparison.Ordinal) && IsAlive(pid))
                {
                    pids.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return [.. pids];
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            // A zombie has exited; only its parent has not collected it yet.
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
