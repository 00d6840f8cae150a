using System.Diagnostics;
using Supermachine.Guest;
using Supermachine.Images;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Vmm;
using Supermachine.Vmm.Qemu;
using Xunit.Abstractions;
using static Supermachine.Tests.Storage.GuestShell;

namespace Supermachine.Tests.Storage;

/// <summary>
/// The writable layer on the VM's own disk (issue #17), under the real engine: writes beyond guest
/// RAM, O_DIRECT, bake-time data coming back with the snapshot, concurrent restores each on their
/// own copy-on-write view, and a compact disk in the artifact.
/// </summary>
[Collection(StorageImages.Collection)]
public class WritableDiskTests(StorageImages images, ITestOutputHelper output)
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_cold_booted_256_MiB_guest_writes_320_MiB_to_its_writable_layer()
    {
        await using MicroVm vm = await MicroVm.StartAsync(images.Plain, new MicroVmOptions { ColdBoot = true });
        Assert.InRange(long.Parse(await ShAsync(vm, "busybox awk '/MemTotal/ { print $2 }' /proc/meminfo")), 1, 256 * 1024);
        string said = await ShAsync(vm, "busybox dd if=/dev/zero of=/var/tmp/big bs=1M count=320 2>/dev/null && busybox sync && busybox stat -c %s /var/tmp/big && busybox df -m / | busybox tail -1");
        output.WriteLine(said);
        Assert.Equal((320L << 20).ToString(), said.Split('\n')[0]);
        // The overlay root reports its upper's file system: the 8 GiB disk, not a tmpfs of half the RAM.
        long totalMiB = long.Parse(said.Split('\n')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        Assert.InRange(totalMiB, 7000, 8192);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task O_DIRECT_writes_work_on_the_writable_layer_of_a_restored_guest()
    {
        await using MicroVm vm = await MicroVm.StartAsync(images.Plain);
        Assert.True(vm.Restored);
        string said = await ShAsync(vm, "dd=$(command -v dd) || dd='busybox dd'; $dd if=/dev/zero of=/var/tmp/f bs=1M count=64 oflag=direct 2>&1 && busybox stat -c %s /var/tmp/f");
        output.WriteLine(said);
        Assert.EndsWith((64L << 20).ToString() + "\n", said, StringComparison.Ordinal);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_file_written_at_bake_time_is_there_after_restore()
    {
        await using MicroVm vm = await MicroVm.StartAsync(images.Wrote);
        Assert.True(vm.Restored);
        string said = await ShAsync(vm, $"busybox sha256sum -c {StorageImages.BakedFile}.sha256 && busybox stat -c %s {StorageImages.BakedFile}");
        Assert.Equal($"{StorageImages.BakedFile}: OK\n{200L << 20}\n", said);
    }

    /// <summary>
    /// 8 restores of one snapshot at once, each writing 100 MiB: zeros from /dev/zero (cheap under
    /// TCG) behind a marker naming the VM, so each guest checks that it holds its own marker, its own
    /// 100 MiB and none of the others', and the snapshot's disk is never written.
    /// </summary>
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Eight_concurrent_restores_each_write_100_MiB_and_see_only_their_own_data_and_never_write_the_artifact()
    {
        const int Count = 8;
        string disk = Path.Combine(images.Wrote.Directory, ArtifactLayout.SnapshotDisk);
        string before = await SnapshotDirectory.HashFileAsync(disk);
        MicroVm[] vms = await Task.WhenAll(Enumerable.Range(0, Count).Select(_ => MicroVm.StartAsync(images.Wrote, new MicroVmOptions { VerifyIntegrity = false })));
        try
        {
            await Task.WhenAll(vms.Select((vm, i) => ShAsync(vm, $"echo vm-{i} > /var/tmp/marker && busybox dd if=/dev/zero of=/var/tmp/own-{i} bs=1M count=100 2>/dev/null && busybox sync")));
            string[] seen = await Task.WhenAll(vms.Select(vm => ShAsync(vm, $"busybox ls /var/tmp; busybox cat /var/tmp/marker; busybox stat -c %s /var/tmp/own-*; busybox sha256sum -c {StorageImages.BakedFile}.sha256")));
            for (int i = 0; i < vms.Length; i++)
            {
                Assert.Equal($"baked\nbaked.sha256\nmarker\nown-{i}\nvm-{i}\n{100L << 20}\n{StorageImages.BakedFile}: OK\n", seen[i]);
            }
        }
        finally
        {
            await Task.WhenAll(vms.Select(vm => vm.DisposeAsync().AsTask()));
        }
        Assert.Equal(before, await SnapshotDirectory.HashFileAsync(disk));
        await using MicroVm later = await MicroVm.StartAsync(images.Wrote);
        Assert.Equal("baked\nbaked.sha256\n", (await ShAsync(later, "busybox ls /var/tmp")));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public void The_artifact_disk_is_listed_in_the_manifest_and_costs_only_the_data_written()
    {
        foreach ((MicroVmImage image, long floor, long ceiling) in new[] { (images.Plain, 0L, 32L << 20), (images.Wrote, 200L << 20, 240L << 20) })
        {
            string disk = Path.Combine(image.Directory, ArtifactLayout.SnapshotDisk);
            long length = new FileInfo(disk).Length;
            long allocated = VmTestAssets.AllocatedBytes(disk);
            output.WriteLine($"{image.Name}: disk of {QemuDisk.VirtualSize(disk) >> 20} MiB stored in {length / 1048576.0:F1} MiB ({allocated / 1048576.0:F1} MiB allocated)");
            Assert.Equal(8192L << 20, QemuDisk.VirtualSize(disk));
            Assert.Contains(image.Manifest.Files, f => f.Path == ArtifactLayout.SnapshotDisk && f.Size == length);
            Assert.Equal(8192, image.Manifest.Machine.DiskMiB);
            Assert.InRange(length, floor, ceiling);
            Assert.InRange(allocated, 0, ceiling);
        }
    }

    /// <summary>Figures, not a timed assertion: restores of a snapshot whose bake wrote 200 MiB against one that wrote nothing.</summary>
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Restore_time_does_not_depend_on_what_the_bake_wrote()
    {
        foreach (MicroVmImage image in new[] { images.Plain, images.Wrote, images.Plain, images.Wrote })
        {
            var clock = Stopwatch.StartNew();
            await using MicroVm vm = await MicroVm.StartAsync(image, new MicroVmOptions { VerifyIntegrity = false });
            TimeSpan started = clock.Elapsed;
            Assert.Equal("ok\n", await ShAsync(vm, "echo ok"));
            output.WriteLine($"{image.Name}: restored in {vm.StartDuration.TotalMilliseconds:F0} ms (to first exec {clock.Elapsed.TotalMilliseconds:F0} ms, start {started.TotalMilliseconds:F0} ms)");
        }
    }
}
