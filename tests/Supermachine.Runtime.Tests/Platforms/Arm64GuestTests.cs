using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Tests.Platforms;

/// <summary>
/// The fixture index 'multi' (linux/amd64 busybox and linux/arm64/v8 busybox from Debian's arm64
/// busybox-static) baked for linux/arm64 once, with busybox httpd as its workload, and restored
/// once: on an x64 host the guest is emulated, on an arm64 host it runs under its hypervisor.
/// </summary>
public sealed class BakedArm64Busybox : IAsyncLifetime
{
    public const int Port = 8080;

    public string Root { get; } = Directory.CreateTempSubdirectory("sm-arm64-").FullName;

    public MicroVm Vm { get; private set; } = null!;

    public List<string> Warnings { get; } = [];

    public static string Reference => $"oci-layout:{OciTestFixtures.Layout}:multi";

    public string Output => Path.Combine(Root, "arm64");

    public async Task InitializeAsync()
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(Reference, k => k switch
        {
            "Name" => "arm64box",
            "Platform" => "linux/arm64",
            "Port" => Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "Command" => $"sh -c 'mkdir -p /www && echo \"served by $(uname -m)\" > /www/index.html && exec busybox httpd -f -p {Port} -h /www'",
            _ => null,
        });
        var image = new MicroVmImage(await ImageBaker.BakeAsync(request, Output, new BakeOptions
        {
            CacheDirectory = Path.Combine(Root, "cache"),
            Warning = Warnings.Add,
        }));
        Vm = await MicroVm.StartAsync(image, new MicroVmOptions { StartTimeout = TimeSpan.FromMinutes(3) });
    }

    public async Task DisposeAsync()
    {
        await Vm.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}

public class Arm64GuestTests(BakedArm64Busybox box) : IClassFixture<BakedArm64Busybox>
{
    [RequiresToolFact("qemu-system-aarch64", "umoci")]
    public async Task The_arm64_manifest_is_baked_and_restored_as_an_aarch64_guest()
    {
        Assert.True(box.Vm.Restored);
        Assert.Equal("arm64", box.Vm.Image.Manifest.Machine.Architecture);
        ExecResult r = await box.Vm.ExecAsync(["uname", "-m"]);
        Assert.Equal("aarch64\n", r.StandardOutput);
        VmSnapshotInfo snapshot = new QemuBackend().ReadSnapshot(Path.Combine(box.Output, "snapshot"));
        Assert.Equal("arm64", snapshot.Architecture);
        if (!GuestArchitecture.Arm64.IsHost)
        {
            Assert.Equal(Accelerator.Tcg, box.Vm.Accelerator);
            Assert.Equal("virt,gic-version=3", snapshot.MachineType);
            Assert.Equal("cortex-a72", snapshot.CpuModel);
            // The foreign guest is emulated, and the bake said why it is slow.
            Assert.Contains(box.Warnings, w => w.StartsWith("SM4030", StringComparison.Ordinal) && w.Contains("linux/arm64 guest", StringComparison.Ordinal));
        }
    }

    [RequiresToolFact("qemu-system-aarch64", "umoci")]
    public async Task A_port_of_the_arm64_guest_is_forwarded_to_the_host()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(1) };
        string body = await http.GetStringAsync($"http://{box.Vm.GetEndpoint(BakedArm64Busybox.Port)}/");
        Assert.Equal("served by aarch64\n", body);
    }

    [RequiresToolFact("qemu-system-aarch64", "umoci")]
    public async Task Files_are_written_into_and_read_back_from_the_arm64_guest()
    {
        byte[] content = [.. System.Text.Encoding.UTF8.GetBytes("arm64 file\n"), 0, 255, 128];
        await box.Vm.WriteFileAsync("/tmp/arm64.bin", content);
        Assert.Equal(content, await box.Vm.ReadFileAsync("/tmp/arm64.bin"));
        ExecResult r = await box.Vm.ExecAsync(["sh", "-c", "head -c 11 /tmp/arm64.bin"]);
        Assert.Equal("arm64 file\n", r.StandardOutput);
    }

    [RequiresToolFact("qemu-system-aarch64", "umoci")]
    public async Task The_snapshot_is_refused_for_a_machine_of_another_architecture()
    {
        var backend = new QemuBackend();
        var spec = new VmMachineSpec
        {
            Architecture = GuestArchitecture.Amd64,
            KernelPath = Path.Combine(box.Output, "vmlinuz"),
            InitrdPath = Path.Combine(box.Output, "initramfs.img"),
            RootfsPath = Path.Combine(box.Output, "rootfs.squashfs"),
        };
        var e = await Assert.ThrowsAsync<SupermachineException>(() => backend.RestoreAsync(spec, Path.Combine(box.Output, "snapshot")));
        Assert.Equal("SM3202", e.Code);
        Assert.Contains("guest architecture", e.Message);
    }
}

/// <summary>The same index without a platform, and with one it lacks.</summary>
public class PlatformChoiceTests
{
    [RequiresToolFact("qemu-system-x86_64", "umoci")]
    public async Task Without_a_platform_the_index_runs_its_amd64_image_on_this_host()
    {
        string root = Directory.CreateTempSubdirectory("sm-platform-").FullName;
        try
        {
            MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(BakedArm64Busybox.Reference, k => k switch
            {
                "Name" => "hostbox",
                "Command" => "sleep 100000",
                _ => null,
            });
            // Cold-bootable only: the point is which guest runs, not the snapshot.
            var image = new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(root, "out"), new BakeOptions { Snapshot = false, UseCache = false, CacheDirectory = Path.Combine(root, "cache") }));
            string expected = GuestArchitecture.Host.Name;
            Assert.Equal(expected, image.Manifest.Machine.Architecture);
            await using MicroVm vm = await MicroVm.StartAsync(image, new MicroVmOptions { StartTimeout = TimeSpan.FromMinutes(3) });
            ExecResult r = await vm.ExecAsync(["uname", "-m"]);
            Assert.Equal(GuestArchitecture.Host.QemuName + "\n", r.StandardOutput);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [RequiresToolFact("qemu-system-aarch64", "umoci")]
    public async Task A_Dockerfile_built_for_linux_arm64_runs_its_RUN_steps_in_an_arm64_build_VM()
    {
        string root = Directory.CreateTempSubdirectory("sm-platform-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "Dockerfile"), $"FROM {BakedArm64Busybox.Reference}\nRUN uname -m > /arch.txt\nCMD [\"sleep\", \"100000\"]\n");
            MicroVmImageRequest request = MicroVmImageRequest.FromMetadata("armbuild", k => k switch
            {
                "Dockerfile" => Path.Combine(root, "Dockerfile"),
                "Platform" => "linux/arm64",
                _ => null,
            });
            var image = new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(root, "out"), new BakeOptions { Snapshot = false, UseCache = false, CacheDirectory = Path.Combine(root, "cache") }));
            Assert.Equal("arm64", image.Manifest.Machine.Architecture);
            await using MicroVm vm = await MicroVm.StartAsync(image, new MicroVmOptions { StartTimeout = TimeSpan.FromMinutes(3) });
            Assert.Equal("aarch64\n", System.Text.Encoding.UTF8.GetString(await vm.ReadFileAsync("/arch.txt")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [RequiresToolFact("umoci")]
    public async Task A_platform_the_image_lacks_is_SM2006_listing_those_it_has_before_anything_boots()
    {
        string root = Directory.CreateTempSubdirectory("sm-platform-").FullName;
        try
        {
            MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(BakedArm64Busybox.Reference, k => k == "Platform" ? "linux/s390x" : null);
            var e = await Assert.ThrowsAsync<SupermachineException>(() => ImageBaker.BakeAsync(request, Path.Combine(root, "out"), new BakeOptions { CacheDirectory = Path.Combine(root, "cache"), Backend = new NoBootBackend() }));
            Assert.Equal("SM2006", e.Code);
            Assert.Contains("linux/s390x", e.Message);
            Assert.Contains("linux/arm64/v8", e.Message);
            Assert.Contains("linux/amd64", e.Message);
            Assert.False(Directory.Exists(Path.Combine(root, "out")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>An engine that fails the test if anything asks it to boot or even to choose an accelerator.</summary>
    private sealed class NoBootBackend : IVmBackend
    {
        public string Name => "none";

        public string Version => "0";

        public string GetVersion(GuestArchitecture architecture) => throw new InvalidOperationException("asked for the engine version");

        public AcceleratorChoice ChooseAccelerator(Accelerator? requested = null, GuestArchitecture? architecture = null) => throw new InvalidOperationException("asked for an accelerator");

        public Task<IVirtualMachine> StartAsync(VmMachineSpec machine, CancellationToken cancellationToken = default) => throw new InvalidOperationException("booted");

        public Task<IVirtualMachine> RestoreAsync(VmMachineSpec machine, string snapshotDirectory, CancellationToken cancellationToken = default) => throw new InvalidOperationException("restored");

        public Task<IPreparedRestore> PrepareRestoreAsync(VmMachineSpec machine, string snapshotDirectory, CancellationToken cancellationToken = default) => throw new InvalidOperationException("restored");

        public VmSnapshotInfo ReadSnapshot(string snapshotDirectory) => throw new InvalidOperationException("read a snapshot");

        public SnapshotMismatch? FindMismatch(VmSnapshotInfo snapshot, Accelerator? requested = null, GuestArchitecture? expected = null) => null;
    }
}
