using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Oci.Locking;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;

namespace Supermachine.Tests.Oci;

public class ImageReferenceTests
{
    private const string Digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("redis:7", "docker.io/library/redis:7")]
    [InlineData("redis", "docker.io/library/redis:latest")]
    [InlineData("bitnami/redis:7.2", "docker.io/bitnami/redis:7.2")]
    [InlineData("index.docker.io/library/redis:7", "docker.io/library/redis:7")]
    [InlineData("ghcr.io/owner/app:1.0", "ghcr.io/owner/app:1.0")]
    [InlineData("localhost/app", "localhost/app:latest")]
    [InlineData("127.0.0.1:5000/fixtures/busybox:latest", "127.0.0.1:5000/fixtures/busybox:latest")]
    [InlineData("host:5000/repo", "host:5000/repo:latest")]
    [InlineData("redis@" + Digest, "docker.io/library/redis@" + Digest)]
    [InlineData("redis:7@" + Digest, "docker.io/library/redis:7@" + Digest)]
    [InlineData("a.b/c/d/e_f__g-h:tag_1.2-x", "a.b/c/d/e_f__g-h:tag_1.2-x")]
    public void Normalises(string input, string expected)
    {
        Assert.Equal(expected, ImageReference.Parse(input).ToString());
    }

    [Fact]
    public void Splits_registry_repository_tag_and_digest()
    {
        ImageReference r = ImageReference.Parse("127.0.0.1:5000/team/app:v2@" + Digest);
        Assert.Equal("127.0.0.1:5000", r.Registry);
        Assert.Equal("team/app", r.Repository);
        Assert.Equal("v2", r.Tag);
        Assert.Equal(Digest, r.Digest);
        Assert.Equal(Digest, r.ManifestReference);
        Assert.Equal("7", ImageReference.Parse("redis:7").ManifestReference);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Redis:7", "lower case")]
    [InlineData("redis:", "tag")]
    [InlineData("redis:-bad", "tag")]
    [InlineData("redis@sha256:abc", "digest")]
    [InlineData("redis@md5:0123", "digest")]
    [InlineData("ghcr.io/", "repository name is missing")]
    [InlineData("a//b", "repository component")]
    [InlineData("redis 7", "white space")]
    [InlineData("bad_host!:5000/x", "registry")]
    public void Invalid_references_say_what_is_wrong(string input, string problem)
    {
        var ex = Assert.Throws<SupermachineException>(() => ImageReference.Parse(input));
        Assert.Equal("SM2002", ex.Code);
        Assert.Contains(problem, ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Platform_parses_and_matches_variants()
    {
        Platform arm = Platform.Parse("linux/arm64/v8");
        Assert.True(arm.Matches(new Platform { OS = "linux", Architecture = "arm64" }));
        Assert.True(Platform.Parse("linux/arm64").Matches(new Platform { OS = "linux", Architecture = "arm64", Variant = "v8" }));
        Assert.False(Platform.Parse("linux/arm/v7").Matches(new Platform { OS = "linux", Architecture = "arm", Variant = "v6" }));
        Assert.False(Platform.Parse("linux/amd64").Matches(new Platform { OS = "windows", Architecture = "amd64" }));
        Assert.Equal("linux", Platform.Host.OS);
        Assert.Equal("SM2004", Assert.Throws<SupermachineException>(() => Platform.Parse("linux")).Code);
    }

    [Fact]
    public void Index_without_the_platform_is_SM2006_listing_what_it_has()
    {
        string json = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OciIndex + "\",\"manifests\":[{\"mediaType\":\"" + MediaTypes.OciManifest
            + "\",\"digest\":\"" + Digest + "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}";
        byte[] index = Encoding.UTF8.GetBytes(json);
        ManifestDocument doc = ManifestDocument.Parse(index, null, "test");
        Assert.True(doc.IsIndex);
        Assert.Equal(Digest, doc.SelectPlatform(Platform.Parse("linux/arm64"), "test").Digest);
        var ex = Assert.Throws<SupermachineException>(() => doc.SelectPlatform(Platform.Parse("linux/s390x"), "test"));
        Assert.Equal("SM2006", ex.Code);
        Assert.Contains("linux/arm64/v8", ex.Message);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:xyz","size":1},"layers":[]}""")]
    [InlineData("""{"schemaVersion":1,"name":"x"}""")]
    [InlineData("""{"schemaVersion":2,"mediaType":"text/plain"}""")]
    public void Malformed_manifests_are_SM2005(string json)
    {
        var ex = Assert.Throws<SupermachineException>(() => ManifestDocument.Parse(Encoding.UTF8.GetBytes(json), "application/json", "test"));
        Assert.Equal("SM2005", ex.Code);
    }

    [Fact]
    public void Image_config_is_typed()
    {
        string json = """{"architecture":"amd64","os":"linux","config":{"User":"redis","Env":["PATH=/bin","A=1=2"],"Cmd":["redis-server","--protected-mode","no"],"Entrypoint":["/entry"],"WorkingDir":"/data","ExposedPorts":{"6379/tcp":{},"53/udp":{}},"Labels":{"k":"v"},"StopSignal":"SIGTERM"}}""";
        var config = System.Text.Json.JsonSerializer.Deserialize<ImageConfigFile>(json)!;
        Assert.Equal("redis", config.Config.User);
        Assert.Equal("1=2", config.Config.Environment["A"]);
        Assert.Equal(["/entry", "redis-server", "--protected-mode", "no"], config.Config.Argv);
        Assert.Equal([6379], config.Config.ExposedTcpPorts);
        Assert.Equal("v", config.Config.Labels!["k"]);
        Assert.Equal("SIGTERM", config.Config.StopSignal);
        Assert.Equal("/data", config.Config.WorkingDir);
    }

    [Fact]
    public async Task Lock_file_round_trips_with_stable_sorted_formatting()
    {
        var lockFile = new ImageLockFile();
        lockFile.Set(ImageReference.Parse("redis:7"), "linux/arm64", Digest);
        lockFile.Set(ImageReference.Parse("busybox"), "linux/amd64", Digest);
        lockFile.Set(ImageReference.Parse("redis:7"), "linux/amd64", Digest);
        string expected = $"{{\n  \"version\": 1,\n  \"images\": {{\n    \"docker.io/library/busybox:latest\": {{\n      \"linux/amd64\": \"{Digest}\"\n    }},\n    \"docker.io/library/redis:7\": {{\n      \"linux/amd64\": \"{Digest}\",\n      \"linux/arm64\": \"{Digest}\"\n    }}\n  }}\n}}\n";
        Assert.Equal(expected, lockFile.ToJson());
        string path = Path.Combine(Directory.CreateTempSubdirectory().FullName, ImageLockFile.FileName);
        await lockFile.SaveAsync(path);
        ImageLockFile loaded = ImageLockFile.Load(path);
        Assert.Equal(Digest, loaded.TryGet(ImageReference.Parse("docker.io/library/redis:7"), "linux/arm64"));
        Assert.False(loaded.IsChanged);
        Assert.Equal(expected, loaded.ToJson());
        await File.WriteAllTextAsync(path, """{"version":1,"images":{"x":{"linux/amd64":"nope"}}}""");
        Assert.Equal("SM2012", Assert.Throws<SupermachineException>(() => ImageLockFile.Load(path)).Code);
    }
}
