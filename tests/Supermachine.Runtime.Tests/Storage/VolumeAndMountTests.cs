using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Guest.Storage;
using Supermachine.Tests.Infrastructure;
using Xunit.Abstractions;
using static Supermachine.Tests.Storage.GuestShell;

namespace Supermachine.Tests.Storage;

/// <summary>
/// Named volumes and host directory mounts (issue #17) under the real engine: a run-time volume
/// persists across runs and has one writer at a time, a bake-time volume is snapshot state reset on
/// each restore, a host directory is shared with :ro enforced on the host and no way out of it,
/// the image's VOLUME paths are disk-backed, and bad specs get SM237x errors.
/// </summary>
[Collection(StorageImages.Collection)]
public class VolumeAndMountTests(StorageImages images, ITestOutputHelper output)
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_named_volume_written_in_one_run_is_read_in_the_next_and_has_one_writer_at_a_time()
    {
        string directory = Path.Combine(images.Root, "volumes-" + Guid.NewGuid().ToString("N")[..8]);
        MicroVmOptions Options(bool coldBoot = false) => new() { Volumes = ["notes:/var/lib/notes"], VolumeDirectory = directory, VerifyIntegrity = false, ColdBoot = coldBoot };
        // A cold boot mounts it before the workload starts; a restore right after.
        await using (MicroVm first = await MicroVm.StartAsync(images.Plain, Options(coldBoot: true)))
        {
            Assert.False(first.Restored);
            // A new volume has no lost+found (initdb and the like refuse a non-empty directory).
            Assert.Equal("", await ShAsync(first, "busybox ls -A /var/lib/notes"));
            await ShAsync(first, "echo first > /var/lib/notes/note && busybox dd if=/dev/zero of=/var/lib/notes/zeros bs=1M count=20 2>/dev/null");
            var again = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(images.Plain, Options()));
            Assert.Equal("SM2373", again.Code);
            output.WriteLine(again.Message);
            // Nor may a reader attach it while it has a writer.
            var reader = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(images.Plain,
                new MicroVmOptions { Volumes = ["notes:/var/lib/notes:ro"], VolumeDirectory = directory, VerifyIntegrity = false }));
            Assert.Equal("SM2373", reader.Code);
        }
        await using MicroVm second = await MicroVm.StartAsync(images.Plain, Options());
        Assert.True(second.Restored);
        Assert.Equal("first\n" + (20L << 20) + "\n", await ShAsync(second, "busybox cat /var/lib/notes/note && busybox stat -c %s /var/lib/notes/zeros"));
        Assert.Contains("/var/lib/notes type ext4", await ShAsync(second, "busybox mount"));
        Assert.True(File.Exists(Path.Combine(directory, "notes.ext4")));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_bake_time_volume_comes_back_with_the_snapshot_and_is_reset_on_each_restore()
    {
        string file = StorageImages.BakedVolumePath + "/at-bake";
        await using (MicroVm vm = await MicroVm.StartAsync(images.Volume, new MicroVmOptions { VerifyIntegrity = false }))
        {
            Assert.True(vm.Restored);
            Assert.Equal("baked\n", await ShAsync(vm, $"busybox cat {file}"));
            Assert.Contains($"{StorageImages.BakedVolumePath} type ext4", await ShAsync(vm, "busybox mount"));
            await ShAsync(vm, $"echo later > {StorageImages.BakedVolumePath}/later && busybox sync");
        }
        await using MicroVm next = await MicroVm.StartAsync(images.Volume, new MicroVmOptions { VerifyIntegrity = false });
        Assert.Equal("at-bake\n", await ShAsync(next, $"busybox ls {StorageImages.BakedVolumePath}"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_host_directory_is_shared_with_ro_enforced_by_the_host_and_nothing_outside_it_reachable()
    {
        string root = Directory.CreateTempSubdirectory("sm-share-").FullName;
        try
        {
            string shared = Directory.CreateDirectory(Path.Combine(root, "shared")).FullName;
            string outside = Directory.CreateDirectory(Path.Combine(root, "outside")).FullName;
            File.WriteAllText(Path.Combine(shared, "hello.txt"), "from the host\n");
            File.WriteAllText(Path.Combine(outside, "secret"), "SECRET-OUTSIDE\n");
            File.CreateSymbolicLink(Path.Combine(shared, "relative"), "../outside/secret");
            File.CreateSymbolicLink(Path.Combine(shared, "absolute"), Path.Combine(outside, "secret"));
            File.CreateSymbolicLink(Path.Combine(shared, "up"), "..");
            string writable = Directory.CreateDirectory(Path.Combine(root, "writable")).FullName;
            await using MicroVm vm = await MicroVm.StartAsync(images.Plain, new MicroVmOptions
            {
                Mounts = [$"{shared}:/mnt/shared:ro", $"{writable}:/mnt/writable"],
                VerifyIntegrity = false,
            });
            Assert.Equal("from the host\n", await ShAsync(vm, "busybox cat /mnt/shared/hello.txt"));
            // Read-only in the guest, and still when the guest remounts it read-write: QEMU refuses the write.
            Assert.NotEqual(0, (await RunAsync(vm, "echo changed > /mnt/shared/hello.txt")).ExitCode);
            ExecResult remounted = await RunAsync(vm, "busybox mount -o remount,rw /mnt/shared && echo changed > /mnt/shared/hello.txt");
            output.WriteLine($"remount and write: {remounted.ExitCode} {remounted.StandardError}");
            Assert.NotEqual(0, remounted.ExitCode);
            Assert.Equal("from the host\n", File.ReadAllText(Path.Combine(shared, "hello.txt")));
            // Symlinks are resolved by the guest in the guest's own tree, '..' stops at the share's root.
            foreach (string path in new[] { "/mnt/shared/relative", "/mnt/shared/absolute", "/mnt/shared/up/outside/secret", "/mnt/shared/../outside/secret" })
            {
                ExecResult read = await RunAsync(vm, $"busybox cat {path}");
                Assert.DoesNotContain("SECRET-OUTSIDE", read.StandardOutput);
            }
            Assert.DoesNotContain("SECRET-OUTSIDE", (await RunAsync(vm, "busybox grep -r SECRET-OUTSIDE /mnt 2>/dev/null")).StandardOutput);
            // A read-write share writes through to the host.
            await ShAsync(vm, "echo from the guest > /mnt/writable/out.txt");
            Assert.Equal("from the guest\n", File.ReadAllText(Path.Combine(writable, "out.txt")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_images_VOLUME_path_is_writable_and_on_the_disk_backed_layer()
    {
        // The redis image declares VOLUME /data; writes there land on the VM's disk, not in RAM.
        await using MicroVm vm = await MicroVm.StartAsync(images.Plain, new MicroVmOptions { VerifyIntegrity = false });
        string said = await ShAsync(vm, "busybox dd if=/dev/zero of=/data/big bs=1M count=300 2>/dev/null && busybox stat -c %s /data/big && busybox df -m /data | busybox tail -1");
        Assert.Equal((300L << 20).ToString(), said.Split('\n')[0]);
        Assert.InRange(long.Parse(said.Split('\n')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]), 7000, 8192);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Bad_volume_and_mount_specs_get_SM_errors_before_a_VM_starts()
    {
        string missing = Path.Combine(images.Root, "no-such-directory");
        foreach ((string code, MicroVmOptions options) in new[]
        {
            ("SM2372", new MicroVmOptions { Mounts = [$"{missing}:/mnt/x"], VerifyIntegrity = false }),
            ("SM2371", new MicroVmOptions { Mounts = [$"{images.Root}:mnt/x"], VerifyIntegrity = false }),
            ("SM2371", new MicroVmOptions { Volumes = ["data:relative/path"], VerifyIntegrity = false }),
            ("SM2370", new MicroVmOptions { Volumes = ["./relative-host:/mnt/x"], VerifyIntegrity = false }),
            ("SM2370", new MicroVmOptions { Volumes = ["data"], VerifyIntegrity = false }),
            ("SM2376", new MicroVmOptions { Volumes = [$"{images.Root}:/mnt/x"], VerifyIntegrity = false }),
            ("SM2377", new MicroVmOptions { Volumes = ["a:/mnt/x", "b:/mnt/x/"], VerifyIntegrity = false }),
            ("SM2374", new MicroVmOptions { Volumes = ["a:/a", "b:/b", "c:/c", "d:/d", "e:/e"], VerifyIntegrity = false }),
        })
        {
            var e = await Assert.ThrowsAsync<SupermachineException>(() => MicroVm.StartAsync(images.Plain, options));
            Assert.True(code == e.Code, $"{code} expected: {e.Message}");
        }
        Assert.Equal(new StorageSpec(StorageKind.HostDirectory, "/srv/x", "/in/guest", true), StorageSpec.Parse("test", "/srv/./x:/in//guest/:ro"));
    }
}
