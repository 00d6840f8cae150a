using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Supermachine.FileSystem;
using Supermachine.Guest;
using Supermachine.Squashfs;
using Supermachine.Tests.Infrastructure;
using Supermachine.Vmm;

namespace Supermachine.Tests.Vmm;

/// <summary>
/// Guest inputs for engine tests, built once per test run: the kernel from eng/setup.sh, a tiny
/// busybox initramfs whose /init loads the modules, mounts the rootfs disk, prints a marker and
/// serves a line-based shell over the sm.agent port (a stand-in for the real agent), and a busybox
/// squashfs rootfs.
/// </summary>
internal static class VmTestAssets
{
    public const string BootMarker = "SM-TEST-BOOTED";
    public const string RootfsMarker = "SM-TEST-ROOTFS-OK";
    public const string CommandDone = "@@done";

    private static readonly Lazy<string> Root = new(() =>
    {
        // The test host is often ended without running exit handlers: sweep roots of dead runs first.
        foreach (string stale in Directory.GetDirectories(Path.GetTempPath(), "supermachine-vmm-tests-*"))
        {
            if (int.TryParse(stale[(stale.LastIndexOf('-') + 1)..], out int pid) && !Directory.Exists("/proc/" + pid))
            {
                try
                {
                    Directory.Delete(stale, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
        string dir = Path.Combine(Path.GetTempPath(), "supermachine-vmm-tests-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return dir;
    });

    private static readonly Lazy<string> Rootfs = new(BuildRootfs);
    private static readonly Lazy<string> ServingInitrd = new(() => BuildInitramfs("serve", ServeScript));

    public static string KernelDirectory =>
        Path.Combine(Environment.GetEnvironmentVariable("SUPERMACHINE_SETUP_CACHE")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "supermachine-setup"),
            "assets", "linux-x64", "kernel");

    public static string Kernel => Path.Combine(KernelDirectory, "vmlinuz");

    /// <summary>A scratch directory under this run's test root.</summary>
    public static string NewDirectory(string prefix)
    {
        string dir = Path.Combine(Root.Value, prefix + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A machine that boots to <see cref="BootMarker"/> and then serves shell lines on sm.agent.</summary>
    public static VmMachineSpec ServingMachine(bool snapshottable = false, VmSnapshotMode mode = VmSnapshotMode.MappedRam) => new()
    {
        KernelPath = Kernel,
        InitrdPath = ServingInitrd.Value,
        RootfsPath = Rootfs.Value,
        MemoryMiB = 256,
        Snapshottable = snapshottable,
        SnapshotMode = mode,
    };

    /// <summary>A machine whose /init runs <paramref name="initBody"/> after loading modules (e.g. "exit 1").</summary>
    public static VmMachineSpec MachineRunning(string name, string initBody) => new()
    {
        KernelPath = Kernel,
        InitrdPath = BuildInitramfs(name, Prelude + "\n" + initBody + "\n"),
        RootfsPath = Rootfs.Value,
        MemoryMiB = 256,
    };

    /// <summary>
    /// The test rootfs: busybox from Debian as a squashfs written by our SquashfsWriter, every
    /// file owned by root whoever runs the tests.
    /// </summary>
    public static string BuildRootfs()
    {
        string output = Path.Combine(Root.Value, "rootfs.squashfs");
        string tree = Path.Combine(Root.Value, "rootfs-tree");
        Run(Path.Combine(TestEnvironment.RepositoryRoot, "tests", "fixtures", "rootfs.sh"), "busybox", tree);
        SquashfsWriter.WriteAsync(
            DirectoryTreeReader.Read(Path.Combine(tree, "layer0")).Select(e => e with { Uid = 0, Gid = 0 }).ToAsyncEnumerable(),
            output).GetAwaiter().GetResult();
        return output;
    }

    /// <summary>Sends one shell line to the guest's stand-in agent and returns its output.</summary>
    public static async Task<string> RunInGuestAsync(Stream channel, string command, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await channel.WriteAsync(Encoding.ASCII.GetBytes(command + "\n"), cts.Token);
        await channel.FlushAsync(cts.Token);
        var received = new StringBuilder();
        byte[] buffer = new byte[4096];
        while (true)
        {
            int n = await channel.ReadAsync(buffer, cts.Token);
            if (n == 0)
            {
                throw new IOException($"The guest closed the channel; got so far: {received}");
            }
            received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            string text = received.ToString();
            int done = text.IndexOf(CommandDone + "\n", StringComparison.Ordinal);
            if (done >= 0)
            {
                return text[..done].Replace("\r", "", StringComparison.Ordinal).TrimEnd('\n');
            }
        }
    }

    /// <summary>sha256 of each file in <paramref name="directory"/>, by relative name.</summary>
    public static Dictionary<string, string> HashFiles(string directory) =>
        Directory.GetFiles(directory).Order(StringComparer.Ordinal).ToDictionary(
            f => Path.GetFileName(f),
            f =>
            {
                using FileStream s = File.OpenRead(f);
                return Convert.ToHexString(SHA256.HashData(s));
            });

    /// <summary>Bytes a file really occupies on disk (st_blocks), to see holes.</summary>
    public static long AllocatedBytes(string path) => long.Parse(Run("stat", "-c", "%b", path).Trim()) * 512;

    private const string Prelude = """
        #!/bin/sh
        export PATH=/bin
        /bin/busybox --install -s /bin
        mkdir -p /proc /sys /dev /mnt /tmp
        mount -t proc proc /proc
        mount -t sysfs sys /sys
        mount -t devtmpfs dev /dev
        for m in $(cat /modules.order); do insmod /modules/$m.ko; done
        ip link set lo up 2>/dev/null
        """;

    private const string ServeScript = Prelude + $$"""

        if mount -t squashfs -o ro /dev/vda /mnt && [ -x /mnt/bin/busybox ]; then echo {{RootfsMarker}}; fi
        port=""
        while [ -z "$port" ]; do
          for p in /sys/class/virtio-ports/*; do
            [ "$(cat $p/name 2>/dev/null)" = sm.agent ] && port=/dev/${p##*/}
          done
          [ -z "$port" ] && sleep 0.1
        done
        # Open the port before saying so: the guest driver drops bytes that arrive while no one has it
        # open, so the host must not talk before this. It stays open for good (one open at a time:
        # a virtio port refuses a second one); reads return EOF while the host side is away.
        exec 3<>$port
        echo {{BootMarker}} $port
        # A line-based shell on the agent port: each line runs, then a done marker.
        while :; do
          while IFS= read -r line <&3; do
            eval "$line" >&3 2>&1
            echo {{CommandDone}} >&3
          done
          sleep 0.05
        done
        """;

    /// <summary>An initramfs with busybox and the modules whose /init is exactly <paramref name="init"/>.</summary>
    public static string BuildInitramfs(string name, string init)
    {
        string path = Path.Combine(Root.Value, name + ".cpio");
        string modules = Path.Combine(KernelDirectory, "modules");
        string order = File.ReadAllText(Path.Combine(KernelDirectory, "modules.order"));
        using var file = File.Create(path);
        using var cpio = new CpioWriter(file);
        cpio.AddDirectory("bin");
        cpio.AddFile("bin/busybox", File.ReadAllBytes("/bin/busybox"), mode: 0x1ED);
        cpio.AddSymlink("bin/sh", "busybox");
        cpio.AddDirectory("dev");
        cpio.AddCharacterDevice("dev/console", 5, 1);
        cpio.AddDirectory("modules");
        foreach (string module in order.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            cpio.AddFile($"modules/{module}.ko", File.ReadAllBytes(Path.Combine(modules, module + ".ko")));
        }
        cpio.AddFile("modules.order", Encoding.ASCII.GetBytes(order));
        cpio.AddFile("init", Encoding.ASCII.GetBytes(init.Replace("\r", "", StringComparison.Ordinal)), mode: 0x1ED);
        return path;
    }

    private static string Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }
        using Process p = Process.Start(start)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}");
        }
        return stdout;
    }
}
