using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Images;

namespace Supermachine.Tests.Images;

public class ArtifactNameTests
{
    [Theory]
    [InlineData("redis:7", "redis_7")]
    [InlineData("redis", "redis")]
    [InlineData("docker.io/library/redis:7.2-alpine", "redis_7.2-alpine")]
    [InlineData("localhost:5000/team/api:1.0", "api_1.0")]
    [InlineData("redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "redis_sha256-0123456789ab")]
    [InlineData("oci-layout:/tmp/x:tag", "x_tag")]
    public void Derived_names_are_short_and_folder_safe(string reference, string expected)
    {
        string name = ArtifactName.FromReference(reference);
        Assert.Equal(expected, name);
        Assert.True(ArtifactName.IsValid(name));
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("-x")]
    public void Unsafe_names_are_invalid(string name) => Assert.False(ArtifactName.IsValid(name));

    [Fact]
    public void Metadata_is_parsed_and_validated()
    {
        var meta = new Dictionary<string, string> { ["Port"] = "6379", ["Env"] = "A=1; B=x=y", ["MemoryMiB"] = "512" };
        MicroVmImageRequest r = MicroVmImageRequest.FromMetadata("redis:7", k => meta.GetValueOrDefault(k));
        Assert.Equal("redis_7", r.Name);
        Assert.Equal(6379, r.Port);
        Assert.Equal(512, r.MemoryMiB);
        Assert.Equal([new("A", "1"), new("B", "x=y")], r.Environment);

        meta["Port"] = "70000";
        Assert.Equal("SM2303", Assert.Throws<SupermachineException>(() => MicroVmImageRequest.FromMetadata("redis:7", k => meta.GetValueOrDefault(k))).Code);
        meta["Port"] = "1";
        meta["Env"] = "NOEQUALS";
        Assert.Equal("SM2304", Assert.Throws<SupermachineException>(() => MicroVmImageRequest.FromMetadata("redis:7", k => meta.GetValueOrDefault(k))).Code);
    }

    [Fact]
    public void Duplicate_names_are_refused_case_insensitively()
    {
        var a = MicroVmImageRequest.FromMetadata("redis:7", _ => null);
        var b = MicroVmImageRequest.FromMetadata("other", k => k == "Name" ? "REDIS_7" : null);
        var e = Assert.Throws<SupermachineException>(() => MicroVmImageRequest.EnsureUniqueNames([a, b]));
        Assert.Equal("SM2301", e.Code);
    }
}
