using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Oci;
using Supermachine.Oci.Registry;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>The auth paths for real: an htpasswd (Basic) registry and a token-auth registry behind <see cref="TokenServer"/>.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RegistryAuthTests
{
    private const string User = "tester";
    private const string Password = "s3cret-pass";

    private static RegistryOptions Options(IRegistryCredentialProvider credentials) => new()
    {
        Credentials = credentials,
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        MaxAttempts = 2,
    };

    private static string DockerConfig(string dir, string json)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static string Json(object value) => System.Text.Json.JsonSerializer.Serialize(value);

    private static string Auth(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));

    [RequiresToolFact("docker-registry", "skopeo", "htpasswd")]
    public async Task Basic_auth_registry_needs_the_credentials_from_the_docker_config()
    {
        await using var server = await RegistryServer.StartAsync(new RegistryAuth.Basic(User, Password));
        server.Push($"oci:{OciTestFixtures.Layout}:busybox", "private/busybox:1", credentials: $"{User}:{Password}");
        string image = $"{server.Host}/private/busybox:1";
        using var scratch = new OciScratch();

        var anonymous = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options(new NoCredentials())).PullAsync(image));
        Assert.Equal("SM1002", anonymous.Code);
        string wrongConfig = DockerConfig(Path.Combine(scratch.Root, "wrong"), Json(new { auths = new Dictionary<string, object> { [server.Host] = new { auth = Auth(User, "nope") } } }));
        var wrong = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options(new DockerConfigCredentials(wrongConfig))).PullAsync(image));
        Assert.Equal("SM1002", wrong.Code);

        string config = DockerConfig(Path.Combine(scratch.Root, "right"), Json(new { auths = new Dictionary<string, object> { ["http://" + server.Host] = new { auth = Auth(User, Password) } } }));
        PulledImage pulled = await scratch.Puller(Options(new DockerConfigCredentials(config))).PullAsync(image);
        Assert.Single(pulled.Layers);
    }

    [RequiresToolFact("docker-registry", "skopeo", "htpasswd")]
    public async Task Credential_helpers_are_run_for_credHelpers_and_credsStore()
    {
        await using var server = await RegistryServer.StartAsync(new RegistryAuth.Basic(User, Password));
        server.Push($"oci:{OciTestFixtures.Layout}:busybox", "private/busybox:1", credentials: $"{User}:{Password}");
        using var scratch = new OciScratch();
        string bin = Path.Combine(scratch.Root, "bin");
        Directory.CreateDirectory(bin);
        string helper = Path.Combine(bin, "docker-credential-smtest");
        // The helper protocol: server URL on stdin, JSON on stdout; it records what it was asked.
        await File.WriteAllTextAsync(helper, $"#!/bin/sh\nread server\necho \"$server\" >> \"{bin}/asked\"\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{User}\",\"Secret\":\"{Password}\"}}' \"$server\"\n");
        File.SetUnixFileMode(helper, (UnixFileMode)0x1ed);
        string? path = Environment.GetEnvironmentVariable("PATH");
        Environment.SetEnvironmentVariable("PATH", bin + ":" + path);
        try
        {
            string helpers = DockerConfig(Path.Combine(scratch.Root, "helpers"), Json(new { credHelpers = new Dictionary<string, string> { [server.Host] = "smtest" } }));
            Assert.Single((await scratch.Puller(Options(new DockerConfigCredentials(helpers))).PullAsync($"{server.Host}/private/busybox:1")).Layers);
            string store = DockerConfig(Path.Combine(scratch.Root, "store"), """{"credsStore":"smtest"}""");
            using var scratch2 = new OciScratch();
            Assert.Single((await scratch2.Puller(Options(new DockerConfigCredentials(store))).PullAsync($"{server.Host}/private/busybox:1")).Layers);
            Assert.Contains(server.Host, await File.ReadAllTextAsync(Path.Combine(bin, "asked")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
    }

    [RequiresToolFact("docker-registry", "skopeo")]
    public async Task Token_auth_issues_signed_tokens_anonymously_or_with_credentials_and_caches_them_per_scope()
    {
        await using var tokens = new TokenServer(new Dictionary<string, string> { [User] = Password }, allowAnonymousPull: true);
        await using var server = await RegistryServer.StartAsync(new RegistryAuth.Token(tokens));
        server.Push($"oci:{OciTestFixtures.Layout}:redis", "team/redis:7", credentials: $"{User}:{Password}");
        using var scratch = new OciScratch();

        // Anonymous bearer flow, the Docker Hub way: one token for the pull scope serves every request.
        using var client = new RegistryClient(Options(new NoCredentials()));
        var puller = new Supermachine.Oci.ImagePuller(scratch.Store, client);
        int before = tokens.IssuedCount;
        PulledImage image = await puller.PullAsync($"{server.Host}/team/redis:7");
        Assert.Equal(3, image.Layers.Count);
        Assert.Equal(1, tokens.IssuedCount - before);

        // Blob storage a registry redirects to never sees the registry token (HttpClient drops it on redirect).
        TamperingProxy? proxy = null;
        proxy = new TamperingProxy(server.Host, (request, response) =>
        {
            if (TamperingProxy.IsBlob(request) && !request.Path.StartsWith("/storage/", StringComparison.Ordinal) && response.Status == 200)
            {
                response.Status = 307;
                response.Headers["Location"] = $"http://{proxy!.Host}/storage{request.Path}";
                response.Body = [];
            }
            return Task.CompletedTask;
        });
        await using (proxy)
        {
            using var redirected = new OciScratch();
            Assert.Equal(3, (await redirected.Puller(Options(new NoCredentials())).PullAsync($"{proxy.Host}/team/redis:7")).Layers.Count);
            Assert.False(proxy.StorageSawAuthorization);
        }

        // With credentials from the Docker config, the token request is authenticated.
        string config = DockerConfig(Path.Combine(scratch.Root, "cfg"), Json(new { auths = new Dictionary<string, object> { [server.Host] = new { username = User, password = Password } } }));
        using var scratch2 = new OciScratch();
        Assert.Equal(3, (await scratch2.Puller(Options(new DockerConfigCredentials(config))).PullAsync($"{server.Host}/team/redis:7")).Layers.Count);

        // Wrong credentials: the token service refuses.
        string bad = DockerConfig(Path.Combine(scratch.Root, "bad"), Json(new { auths = new Dictionary<string, object> { [server.Host] = new { username = User, password = "wrong" } } }));
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => new OciScratch().Puller(Options(new DockerConfigCredentials(bad))).PullAsync($"{server.Host}/team/redis:7"));
        Assert.Equal("SM1002", ex.Code);
    }

    [RequiresToolFact("docker-registry", "skopeo")]
    public async Task Token_without_pull_access_is_SM1002()
    {
        await using var tokens = new TokenServer(new Dictionary<string, string> { [User] = Password }, allowAnonymousPull: false);
        await using var server = await RegistryServer.StartAsync(new RegistryAuth.Token(tokens));
        server.Push($"oci:{OciTestFixtures.Layout}:busybox", "team/busybox:1", credentials: $"{User}:{Password}");
        using var scratch = new OciScratch();
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller(Options(new NoCredentials())).PullAsync($"{server.Host}/team/busybox:1"));
        Assert.Equal("SM1002", ex.Code);
    }
}
