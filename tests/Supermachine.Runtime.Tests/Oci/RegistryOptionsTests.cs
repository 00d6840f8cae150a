using Supermachine.Diagnostics;
using Supermachine.Oci.Registry;

namespace Supermachine.Tests.Oci;

public class RegistryOptionsTests
{
    [Fact]
    public void Mirrors_parse_per_registry_in_order_and_keep_path_prefixes()
    {
        var mirrors = RegistryOptions.ParseMirrors("docker.io=http://127.0.0.1:5000, https://m.example/prefix ; ghcr.io=mirror.example");
        Assert.Equal(["http://127.0.0.1:5000/", "https://m.example/prefix/"], mirrors["docker.io"].Select(u => u.ToString()));
        Assert.Equal("https://mirror.example/", mirrors["ghcr.io"][0].ToString());
        Assert.Equal("SM2010", Assert.Throws<SupermachineException>(() => RegistryOptions.ParseMirrors("docker.io")).Code);
        Assert.Equal("SM2010", Assert.Throws<SupermachineException>(() => RegistryOptions.ParseMirrors("docker.io=ftp://x")).Code);
    }

    [Fact]
    public void Endpoints_are_mirrors_then_origin_with_localhost_always_plain_http()
    {
        using var client = new RegistryClient(new RegistryOptions
        {
            Mirrors = RegistryOptions.ParseMirrors("docker.io=http://127.0.0.1:5000"),
            InsecureRegistries = new HashSet<string>(["registry.internal:5000"]),
            Credentials = new NoCredentials(),
        });
        Assert.Equal(["http://127.0.0.1:5000/", "https://registry-1.docker.io/"], client.Endpoints("docker.io").Select(u => u.ToString()));
        Assert.Equal("http://localhost:5000/", client.Endpoints("localhost:5000")[0].ToString());
        Assert.Equal("http://127.0.0.1:41000/", client.Endpoints("127.0.0.1:41000")[0].ToString());
        Assert.Equal("http://registry.internal:5000/", client.Endpoints("registry.internal:5000")[0].ToString());
        Assert.Equal("https://ghcr.io/", client.Endpoints("ghcr.io")[0].ToString());
    }

    [Fact]
    public void Bearer_challenges_parse_quoted_parameters()
    {
        var p = RegistryClient.ParseChallenge("realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/redis:pull\"");
        Assert.Equal("https://auth.docker.io/token", p["realm"]);
        Assert.Equal("registry.docker.io", p["service"]);
        Assert.Equal("repository:library/redis:pull", p["scope"]);
    }
}
