using Supermachine.Guest;
using Supermachine.Tests.Infrastructure;
using InfraProcess = Supermachine.Tests.Infrastructure.ProcessRunner;

namespace Supermachine.Tests.MicroVms;

/// <summary>
/// What a user writes: a one-line fixture over <see cref="MicroVmFixture"/> that satisfies xunit's
/// IAsyncLifetime through the base class's public methods. (A user's fixture passes an image name;
/// this one takes the baked test image from the collection fixture instead of a build output.)
/// </summary>
public sealed class SeededRedisFixture(BakedRedis baked) : MicroVmFixture(baked.Image), IAsyncLifetime
{
    public int SeedCalls { get; private set; }

    protected override async Task OnStartedAsync(MicroVm vm)
    {
        SeedCalls++;
        ExecResult seeded = await vm.ExecAsync(["redis-cli", "set", "seeded-by", "fixture"]);
        Assert.Equal("OK\n", seeded.StandardOutput);
    }
}

[Collection(BakedRedisCollection.Name)]
public class MicroVmFixtureTests(SeededRedisFixture redis) : IClassFixture<SeededRedisFixture>
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_class_fixture_serves_redis_through_its_endpoint_with_the_seeded_data()
    {
        Assert.True(redis.Vm.Restored);
        Assert.Equal(1, redis.SeedCalls);
        await using RedisClient client = await RedisClient.ConnectAsync(redis.GetEndpoint(6379));
        Assert.Equal("PONG", await client.StringAsync("PING"));
        Assert.Equal("fixture", await client.StringAsync("GET", "seeded-by"));
        Assert.Equal("OK", await client.StringAsync("SET", "shared-with", "the next test"));
    }

    [RequiresToolFact("qemu-system-x86_64", "redis-cli")]
    public async Task The_connection_string_reaches_the_same_vm_for_every_test_of_the_class()
    {
        string connection = redis.GetConnectionString(6379);
        Assert.Equal($"127.0.0.1:{redis.GetEndpoint(6379).Port}", connection);
        // Without a profile (an oci-layout: source), the no-argument form is the item's Port.
        Assert.Equal(connection, redis.GetConnectionString());
        string[] hostPort = connection.Split(':');
        ProcessResult ping = await InfraProcess.RunAsync("redis-cli", ["-h", hostPort[0], "-p", hostPort[1], "get", "seeded-by"]);
        Assert.Equal("fixture", ping.StandardOutput.Trim());
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_workload_log_follows_as_lines()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        string? ready = null;
        await foreach (string line in redis.Vm.FollowWorkloadLogAsync(cancellationToken: stop.Token))
        {
            if (line.Contains("Ready to accept connections", StringComparison.Ordinal))
            {
                ready = line;
                break;
            }
        }
        Assert.NotNull(ready);
    }
}

public class MicroVmFixtureLifecycleTests
{
    [Fact]
    public async Task Vm_before_InitializeAsync_says_what_to_do_and_dispose_is_idempotent()
    {
        var fixture = new MicroVmFixture("no_such_image");
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => fixture.Vm);
        Assert.Contains("InitializeAsync", e.Message, StringComparison.Ordinal);
        await fixture.DisposeAsync();
        await ((IAsyncDisposable)fixture).DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(fixture.InitializeAsync);
    }

    [Fact]
    public async Task A_missing_image_fails_InitializeAsync_with_SM3255()
    {
        var fixture = new MicroVmFixture("no_such_image");
        var e = await Assert.ThrowsAsync<SupermachineException>(fixture.InitializeAsync);
        Assert.Equal("SM3255", e.Code);
    }
}
