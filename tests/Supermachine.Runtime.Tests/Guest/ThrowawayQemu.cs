using System.Diagnostics;
using System.Net.Sockets;
using Supermachine.Guest;

namespace Supermachine.Tests.Guest;

/// <summary>
/// A bare QEMU (TCG, q35) booting the guest kernel with our initramfs and a squashfs root, with the
/// agent's virtio-serial port on a unix socket. The one place the guest tests start VMs, so the
/// engine's QemuBackend can replace it. Killed by PID on dispose.
/// </summary>
internal sealed class ThrowawayQemu : IAsyncDisposable
{
    private readonly Process _process;

    private ThrowawayQemu(Process process, string directory)
    {
        _process = process;
        Directory = directory;
    }

    public string Directory { get; }

    public string ConsoleLogPath => Path.Combine(Directory, "console.log");

    private string SocketPath => Path.Combine(Directory, "agent.sock");

    public Task<int> WaitForExitAsync(CancellationToken cancellationToken) =>
        _process.WaitForExitAsync(cancellationToken).ContinueWith(_ => _process.ExitCode, TaskScheduler.Default);

    /// <summary>Starts QEMU on <paramref name="rootfs"/> with the kernel of the set-up assets and this checkout's agent.</summary>
    public static ThrowawayQemu Boot(string rootfs, int memoryMiB = 256)
    {
        string dir = System.IO.Directory.CreateTempSubdirectory("sm-vm").FullName;
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        GuestAssets assets = GuestAssets.Locate() with { AgentPath = AgentBinary.Path };
        string initrd = Path.Combine(dir, "initramfs.cpio");
        InitramfsBuilder.Write(initrd, assets);
        // The writable disk every engine VM gets: the agent puts the overlay upper on it.
        string disk = Path.Combine(dir, Supermachine.Vmm.Qemu.QemuDisk.RawFile);
        Supermachine.Vmm.Qemu.QemuDisk.Format(disk, Supermachine.Vmm.VmMachineSpec.DefaultDiskMiB);
        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = dir,
        };
        foreach (string a in new[]
        {
            "-accel", "tcg", "-M", "q35", "-m", memoryMiB.ToString(), "-smp", "1",
            "-kernel", assets.KernelPath, "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1",
            "-nodefaults", "-nographic", "-no-reboot",
            "-rtc", "base=2001-01-01T00:00:00", // wrong on purpose: the agent's hello must set the clock
            "-serial", "file:" + Path.Combine(dir, "console.log"),
            "-device", "virtio-serial-pci",
            "-chardev", $"socket,id=agent,path={Path.Combine(dir, "agent.sock")},server=on,wait=off",
            "-device", "virtserialport,chardev=agent,name=sm.agent",
            "-drive", $"file={rootfs},if=none,id=root,format=raw,readonly=on",
            "-device", "virtio-blk-pci,drive=root",
            "-drive", $"file={disk},if=none,id=disk,format=raw",
            "-device", "virtio-blk-pci,drive=disk",
        })
        {
            psi.ArgumentList.Add(a);
        }
        var p = Process.Start(psi)!;
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return new ThrowawayQemu(p, dir);
    }

    /// <summary>The agent channel: the chardev socket, retried until QEMU has created it.</summary>
    public async Task<Stream> ConnectAgentAsync(CancellationToken cancellationToken = default)
    {
        for (int attempt = 0; ; attempt++)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"qemu exited with {_process.ExitCode}: {ConsoleTail()}");
            }
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException) when (attempt < 400)
            {
                socket.Dispose();
                await Task.Delay(25, cancellationToken);
            }
        }
    }

    public string ConsoleTail()
    {
        try
        {
            string text = File.ReadAllText(ConsoleLogPath);
            return text.Length > 3000 ? text[^3000..] : text;
        }
        catch (IOException)
        {
            return "";
        }
    }

    public async Task KillAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
