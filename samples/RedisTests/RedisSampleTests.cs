using Supermachine.Bake;
using Xunit;

namespace RedisTests;

public class RedisSampleTests
{
    [Fact]
    public void The_runtime_package_is_referenced_by_the_sdk()
    {
        Assert.Equal("redis_7", ArtifactName.FromReference("redis:7"));
    }
}
