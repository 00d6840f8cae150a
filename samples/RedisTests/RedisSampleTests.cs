using StackExchange.Redis;
using Supermachine;
using Xunit;

namespace RedisTests;

/// <summary>Each test restores its own redis from the snapshot the build baked: fresh state, no Docker, no pull.</summary>
public class RedisSampleTests
{
    [Fact]
    public async Task A_restored_redis_answers_ping()
    {
        await using MicroVm vm = await MicroVm.StartAsync("redis_7");
        Assert.True(vm.Restored);
        // The redis profile's connection string: "127.0.0.1:PORT", what StackExchange.Redis takes.
        await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(vm.GetConnectionString());
        Assert.True(await redis.GetDatabase().PingAsync() >= TimeSpan.Zero);
    }

    [Fact]
    public async Task Every_test_gets_its_own_state()
    {
        await using (MicroVm first = await MicroVm.StartAsync("redis_7"))
        {
            await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(first.GetConnectionString());
            Assert.True(await redis.GetDatabase().StringSetAsync("left-behind", "yes"));
        }
        await using MicroVm second = await MicroVm.StartAsync("redis_7");
        await using ConnectionMultiplexer fresh = await ConnectionMultiplexer.ConnectAsync(second.GetConnectionString());
        Assert.False((await fresh.GetDatabase().StringGetAsync("left-behind")).HasValue);
    }
}
