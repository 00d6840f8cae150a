using System.Diagnostics;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Network;

/// <summary>
/// A stand-in for a host on the internet: a network namespace this test made, joined to the host
/// by a veth pair on a private /24 (host side .1, namespace side .2, route via the veth), running
/// busybox httpd on .2:8000 over a directory of files. The NAT connects from the host's stack,
/// so the guest reaches it like any remote address. Dispose removes exactly what it made.
/// </summary>
public sealed class NamespaceHost : IAsyncDisposable
{
    public const int Port = 8000;

    private readonly string _namespace;
    private readonly string _hostLink;
    private Process? _server;

    private NamespaceHost(string name, string hostLink, string subnet, string root)
    {
        _namespace = name;
        _hostLink = hostLink;
        Subnet = subnet;
        Root = root;
    }

    /// <summary>e.g. "10.213.17": the /24's first three octets.</summary>
    public string Subnet { get; }

    /// <summary>The server's address.</summary>
    public string Address => Subnet + ".2";

    /// <summary>The host's own address on the veth (a host address the guest must not reach loopback services through).</summary>
    public string HostSideAddress => Subnet + ".1";

    /// <summary>The directory the server serves.</summary>
    public string Root { get; }

    public string Url(string file) => $"http://{Address}:{Port}/{file}";

    public static async Task<NamespaceHost> StartAsync()
    {
        string id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));
        // A /24 in 10.213.0.0/16 not already routed on this host (parallel tests, leftovers).
        string routes = (await ProcessRunner.RunAsync("ip", ["-4", "route"])).StandardOutput;
        string subnet = Enumerable.Range(0, 64).Select(_ => $"10.213.{Random.Shared.Next(1, 255)}").First(s => !routes.Contains(s + ".", StringComparison.Ordinal));
        var host = new NamespaceHost("smt-" + id, "smh" + id, subnet, Directory.CreateTempSubdirectory("sm-nshost").FullName);
        try
        {
            await host.Ip("netns", "add", host._namespace);
            await host.Ip("link", "add", host._hostLink, "type", "veth", "peer", "name", "smg" + id);
            await host.Ip("link", "set", "smg" + id, "netns", host._namespace);
            await host.Ip("addr", "add", host.HostSideAddress + "/24", "dev", host._hostLink);
            await host.Ip("link", "set", host._hostLink, "up");
            await host.Ip("-n", host._namespace, "addr", "add", host.Address + "/24", "dev", "smg" + id);
            await host.Ip("-n", host._namespace, "link", "set", "smg" + id, "up");
            await host.Ip("-n", host._namespace, "link", "set", "lo", "up");
            var psi = new ProcessStartInfo("ip", ["netns", "exec", host._namespace, "busybox", "httpd", "-f", "-p", $"{host.Address}:{Port}", "-h", host.Root])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            host._server = Process.Start(psi)!;
            // Generous: on a loaded CI machine httpd can take seconds to start listening.
            for (var clock = System.Diagnostics.Stopwatch.StartNew(); !await host.ListeningAsync(); await Task.Delay(50))
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60) || host._server.HasExited)
                {
                    throw new InvalidOperationException($"busybox httpd in {host._namespace} did not listen on {host.Address}:{Port}");
                }
            }
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> as <paramref name="file"/> under the served directory.</summary>
    public void Serve(string file, byte[] bytes) => File.WriteAllBytes(Path.Combine(Root, file), bytes);

    /// <summary>Serves <paramref name="size"/> random bytes as <paramref name="file"/> and returns them.</summary>
    public byte[] ServeRandom(string file, int size)
    {
        byte[] bytes = new byte[size];
        Random.Shared.NextBytes(bytes);
        Serve(file, bytes);
        return bytes;
    }

    private async Task<bool> ListeningAsync()
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(Address, Port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private async Task Ip(params string[] args)
    {
        ProcessResult r = await ProcessRunner.RunAsync("ip", args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)}: {r.StandardError}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            try
            {
                _server.Kill(entireProcessTree: true);
                await _server.WaitForExitAsync();
            }
            catch (InvalidOperationException)
            {
            }
            _server.Dispose();
        }
        // Deleting the namespace destroys its veth end, and with it the pair.
        await ProcessRunner.RunAsync("ip", ["netns", "del", _namespace]);
        await ProcessRunner.RunAsync("ip", ["link", "del", _hostLink]);
        Directory.Delete(Root, recursive: true);
    }
}
