using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>How a test registry authenticates.</summary>
public abstract record RegistryAuth
{
    public sealed record None : RegistryAuth;

    /// <summary>htpasswd (bcrypt) Basic auth with one user.</summary>
    public sealed record Basic(string User, string Password) : RegistryAuth;

    /// <summary>Bearer tokens from <paramref name="Server"/>.</summary>
    public sealed record Token(TokenServer Server) : RegistryAuth;
}

/// <summary>
/// Debian's distribution registry (<c>docker-registry serve CONFIG</c>) on a free 127.0.0.1 port,
/// with its config and data in a temp directory; stopped by PID on dispose.
/// </summary>
public sealed class RegistryServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private RegistryServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string Host => $"127.0.0.1:{Port}";

    public static async Task<RegistryServer> StartAsync(RegistryAuth auth)
    {
        string dir = Directory.CreateTempSubdirectory("sm-registry-").FullName;
        int port = FreePort();
        string authYaml = auth switch
        {
            RegistryAuth.Basic b => $"auth:\n  htpasswd:\n    realm: supermachine-tests\n    path: {WriteHtpasswd(dir, b)}\n",
            RegistryAuth.Token t => $"auth:\n  token:\n    realm: {t.Server.Realm}\n    service: {t.Server.Service}\n    issuer: {t.Server.Issuer}\n    rootcertbundle: {t.Server.WriteRootCertificate(dir)}\n",
            _ => "",
        };
        string config = Path.Combine(dir, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: {Path.Combine(dir, "data")}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{port}
            {authYaml.Replace("\n", "\n            ")}
            """);
        var start = new ProcessStartInfo(TestEnvironment.FindTool("docker-registry") ?? "docker-registry", ["serve", config])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RegistryServer(process, dir, port);
        using var http = new HttpClient();
        for (int i = 0; ; i++)
        {
            try
            {
                using HttpResponseMessage r = await http.GetAsync($"http://127.0.0.1:{port}/v2/");
                return server;
            }
            catch (HttpRequestException) when (i < 100 && !process.HasExited)
            {
                await Task.Delay(100);
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Pushes <paramref name="source"/> (a skopeo transport, e.g. oci:DIR:TAG) as <paramref name="repositoryAndTag"/>.</summary>
    public void Push(string source, string repositoryAndTag, bool all = false, string? credentials = null)
    {
        var args = new List<string> { "copy", "-q", "--dest-tls-verify=false" };
        if (all)
        {
            args.Add("--all");
        }
        if (credentials is not null)
        {
            args.Add("--dest-creds");
            args.Add(credentials);
        }
        args.Add(source);
        args.Add($"docker://{Host}/{repositoryAndTag}");
        ProcessRunner.Run("skopeo", args, TimeSpan.FromMinutes(3));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        finally
        {
            _process.Dispose();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string WriteHtpasswd(string dir, RegistryAuth.Basic basic)
    {
        string path = Path.Combine(dir, "htpasswd");
        ProcessRunner.Run("htpasswd", ["-Bbc", path, basic.User, basic.Password]);
        return path;
    }
}

/// <summary>One open registry holding every fixture image, shared by the tests of the collection.</summary>
public sealed class RegistryFixture : IAsyncLifetime
{
    public RegistryServer Server { get; private set; } = null!;

    public string Host => Server.Host;

    public async Task InitializeAsync()
    {
        string layout = OciTestFixtures.Layout;
        Server = await RegistryServer.StartAsync(new RegistryAuth.None());
        Server.Push($"oci:{layout}:busybox", "fixtures/busybox:latest");
        Server.Push($"oci:{layout}:busybox", "fixtures/app:v1");
        Server.Push($"oci:{layout}:redis", "fixtures/app:v2");
        Server.Push($"oci:{layout}:redis", "library/redis:7");
        Server.Push($"oci:{layout}:flatten", "fixtures/flatten:latest");
        Server.Push($"oci:{layout}:multi", "fixtures/multi:latest", all: true);
        Server.Push($"oci:{OciTestFixtures.ZstdLayout}:zstd", "fixtures/zstd:latest");
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition("registry")]
public sealed class RegistryCollection : ICollectionFixture<RegistryFixture>;
