using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Vmm.ProcessLifetime;

namespace Supermachine.Vmm.Network;

/// <summary>
/// One VM's user-mode NAT: a <c>passt</c> process that QEMU's virtio-net reaches over a unix
/// socket (<c>-netdev stream</c>). passt, not QEMU's built-in slirp, because it can hide the
/// host's loopback: with <c>--no-map-gw</c> the gateway address is not the host, and passt never
/// connects to 127.0.0.1 for the guest, so an untrusted guest cannot probe local services (host
/// ports it may reach are offered separately, through the agent). Under TCG both NATs moved a
/// 64 MiB download at the same guest-bound ~19 MiB/s and answered a small request in 60-80 ms.
///
/// Every VM, and every restore of a snapshot, gets its own passt (own NAT state); all answer to the
/// same guest identity (<see cref="KernelArgument"/>), so a restored guest keeps its address,
/// route and ARP entry (passt's MAC is pinned) and connects at once. passt runs in the foreground
/// under owner-watch (it dies with us) and is killed with its VM. Not <c>--one-off</c>: the Debian
/// 2023-03 passt with it exits at once.
/// </summary>
internal sealed partial class PasstNat : IDisposable
{
    public const string EnvironmentVariable = "SUPERMACHINE_PASST";

    /// <summary>The guest's address and prefix.</summary>
    public const string GuestAddress = "10.0.2.15/24";

    /// <summary>The gateway passt answers as; it is not the host (--no-map-gw).</summary>
    public const string Gateway = "10.0.2.2";

    /// <summary>passt forwards DNS sent here to the host's resolver.</summary>
    public const string Dns = "10.0.2.3";

    /// <summary>passt's MAC, pinned so a restored guest's ARP entry for the gateway stays valid.</summary>
    public const string GatewayMac = "02:53:4d:00:00:02";

    /// <summary>The guest NIC's MAC.</summary>
    public const string GuestMac = "02:53:4d:00:00:0f";

    /// <summary>What the agent reads to configure the NIC (guest/agent/network.c).</summary>
    public const string KernelArgument = "sm.net=" + GuestAddress + "," + Gateway + "," + Dns;

    /// <summary>The user passt runs as when started by root (nobody on Debian, Ubuntu, Fedora).</summary>
    private const int Nobody = 65534;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(10);

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private PasstNat(Process process, string socketPath)
    {
        _process = process;
        SocketPath = socketPath;
        _ = PumpAsync(process.StandardOutput);
        _ = PumpAsync(process.StandardError);
    }

    /// <summary>The unix socket QEMU connects to.</summary>
    public string SocketPath { get; }

    /// <summary>
    /// Starts passt listening on a socket in a private directory of its own and waits until the
    /// socket is there. As root, passt drops to nobody (65534) before it listens, so the directory
    /// belongs to nobody: the VM's 0700 runtime directory would shut it out.
    /// </summary>
    public static async Task<PasstNat> StartAsync(CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows())
        {
            throw Errors.PasstMissing("passt (there is none for Windows)");
        }
        string passt = Locate();
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        string directory = Path.Combine(Path.GetTempPath(), "sm-nat-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6)));
        Directory.CreateDirectory(directory, Private);
        bool root = Environment.IsPrivilegedProcess;
        if (root && Chown(directory, Nobody, Nobody) != 0)
        {
            Directory.Delete(directory);
            throw Errors.PasstFailed(passt, $"its socket directory {directory} could not be given to nobody ({Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())})");
        }
        string socketPath = Path.Combine(directory, "nat.sock");
        var arguments = new List<string>
        {
            "--foreground", "--quiet", "--ipv4-only", "--no-map-gw",
            "--socket", socketPath,
            "--address", GuestAddress.Split('/')[0], "--netmask", GuestAddress.Split('/')[1],
            "--gateway", Gateway, "--mac-addr", GatewayMac, "--dns-forward", Dns,
            "--tcp-ports", "none", "--udp-ports", "none",
        };
        if (root)
        {
            arguments.AddRange(["--runas", $"{Nobody}:{Nobody}"]);
        }
        Process process;
        try
        {
            process = OwnerWatch.Start(passt, arguments, directory);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            Directory.Delete(directory, recursive: true);
            throw Errors.PasstFailed(passt, e.Message, cause: e);
        }
        var nat = new PasstNat(process, socketPath);
        var clock = Stopwatch.StartNew();
        while (!File.Exists(socketPath))
        {
            if (process.HasExited || clock.Elapsed > StartTimeout)
            {
                nat.Dispose();
                throw Errors.PasstFailed(passt, nat.Output);
            }
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
        return nat;
    }

    /// <summary>The passt binary: SUPERMACHINE_PASST, else PATH (SM3060 when there is none).</summary>
    public static string Locate()
    {
        string? configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured) ? Path.GetFullPath(configured) : throw Errors.PasstMissing(configured);
        }
        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin"))
        {
            string candidate = Path.Combine(folder, "passt");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw Errors.PasstMissing("passt (not on PATH)");
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.Length == 0 ? "(no output)" : _output.ToString().Trim();
            }
        }
    }

    public void Dispose()
    {
        // Under owner-watch, closing its stdin makes it kill passt. A SIGKILL to owner-watch would
        // not reach passt: dropping to nobody cleared passt's parent-death signal.
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(2)))
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
        _process.Dispose();
        try
        {
            Directory.Delete(Path.GetDirectoryName(SocketPath)!, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: an empty private temp directory is harmless.
        }
    }

    private async Task PumpAsync(StreamReader reader)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is string line)
            {
                lock (_output)
                {
                    if (_output.Length < 4096)
                    {
                        _output.AppendLine(line);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Chown(string path, int uid, int gid);
}
