using System.Diagnostics;
using System.Net.Sockets;
using Supermachine.Guest;

namespace Supermachine.Tests.Guest;

/// <summary>
/// The agent running on the host in test mode (no PID 1 duties, no chroot), serving the protocol
/// on a unix socket in a private temp directory. Killed by its PID on dispose.
/// </summary>
internal sealed class HostAgent : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<AgentConnection> _connections = [];

    private HostAgent(Process process, string directory)
    {
        _process = process;
        Directory = directory;
    }

    public string Directory { get; }

    public string SocketPath => System.IO.Path.Combine(Directory, "agent.sock");

    public int ProcessId => _process.Id;

    public Process Process => _process;

    /// <summary>Starts the agent; <paramref name="upper"/> is the directory EXPORT_CHANGES exports (--upper).</summary>
    public static HostAgent Start(string? upper = null)
    {
        string dir = System.IO.Directory.CreateTempSubdirectory("sm-agent-test").FullName;
        string[] args = upper is null ? ["--listen", System.IO.Path.Combine(dir, "agent.sock")] : ["--listen", System.IO.Path.Combine(dir, "agent.sock"), "--upper", upper];
        var psi = new ProcessStartInfo(AgentBinary.Path, args)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = dir,
        };
        var p = Process.Start(psi)!;
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return new HostAgent(p, dir);
    }

    /// <summary>A raw socket to the agent (for frame-level tests); retried until the agent listens.</summary>
    public async Task<NetworkStream> OpenChannelAsync()
    {
        for (int attempt = 0; ; attempt++)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException) when (attempt < 200)
            {
                socket.Dispose();
                await Task.Delay(25);
            }
        }
    }

    public async Task<AgentConnection> ConnectAsync()
    {
        var connection = await AgentConnection.ConnectAsync(await OpenChannelAsync(), new AgentConnectionOptions { HelloTimeout = TimeSpan.FromSeconds(20) });
        _connections.Add(connection);
        return connection;
    }

    /// <summary>Resident memory of the agent process in KiB (from /proc).</summary>
    public long ResidentKiB()
    {
        foreach (string line in File.ReadAllLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            }
        }
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (AgentConnection c in _connections)
        {
            await c.DisposeAsync();
        }
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        _process.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
