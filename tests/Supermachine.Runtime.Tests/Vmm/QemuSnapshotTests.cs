using System.Diagnostics;
using System.Text.Json.Nodes;
using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Tests.Vmm;

/// <summary>
/// Two snapshots made once for the class: a mapped-RAM one whose guest counted to 42 in tmpfs, and
/// a plain migration one whose guest wrote "plain-state".
/// </summary>
public sealed class SnapshotFixture : IAsyncLifetime
{
    internal QemuBackend Backend { get; } = new();

    public string MappedDirectory { get; private set; } = "";

    public string PlainDirectory { get; private set; } = "";

    internal VmSnapshotInfo MappedInfo { get; private set; } = null!;

    internal VmSnapshotInfo PlainInfo { get; private set; } = null!;

    public Dictionary<string, string> MappedHashes { get; private set; } = [];

    public async Task InitializeAsync()
    {
        if (TestEnvironment.FindTool("qemu-system-x86_64") is null && !TestEnvironment.IsCI)
        {
            return;
        }
        MappedDirectory = VmTestAssets.NewDirectory("snap-mapped");
        PlainDirectory = VmTestAssets.NewDirectory("snap-plain");
        Task<VmSnapshotInfo> mapped = BootWriteAndSaveAsync(VmSnapshotMode.MappedRam,
            "echo 41 > /tmp/counter; echo $(( $(cat /tmp/counter) + 1 )) > /tmp/counter", MappedDirectory);
        Task<VmSnapshotInfo> plain = BootWriteAndSaveAsync(VmSnapshotMode.Migration, "echo plain-state > /tmp/counter", PlainDirectory);
        MappedInfo = await mapped;
        PlainInfo = await plain;
        MappedHashes = VmTestAssets.HashFiles(MappedDirectory);
    }

    public Task DisposeAsync()
    {
        foreach (string dir in new[] { MappedDirectory, PlainDirectory })
        {
            if (dir.Length > 0 && Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        return Task.CompletedTask;
    }

    public async Task<string> ReadCounterAfterRestoreAsync(string directory)
    {
        await using IVirtualMachine vm = await Backend.RestoreAsync(VmTestAssets.ServingMachine(), directory);
        await using Stream channel = await vm.ConnectAgentAsync();
        return await VmTestAssets.RunInGuestAsync(channel, "cat /tmp/counter");
    }

    private async Task<VmSnapshotInfo> BootWriteAndSaveAsync(VmSnapshotMode mode, string command, string directory)
    {
        await using IVirtualMachine vm = await Backend.StartAsync(VmTestAssets.ServingMachine(snapshottable: true, mode));
        await vm.WaitForConsoleAsync(VmTestAssets.BootMarker, TimeSpan.FromSeconds(120));
        await using (Stream channel = await vm.ConnectAgentAsync())
        {
            Assert.Equal("", await VmTestAssets.RunInGuestAsync(channel, command));
        }
        return await vm.SaveSnapshotAsync(directory);
    }
}

public class QemuSnapshotTests(SnapshotFixture fixture) : IClassFixture<SnapshotFixture>
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Restore_brings_back_the_guest_state_and_the_guest_keeps_running()
    {
        await using IVirtualMachine vm = await fixture.Backend.RestoreAsync(VmTestAssets.ServingMachine(), fixture.MappedDirectory);
        await using Stream channel = await vm.ConnectAgentAsync();
        Assert.Equal("42", await VmTestAssets.RunInGuestAsync(channel, "cat /tmp/counter"));
        Assert.Equal("43", await VmTestAssets.RunInGuestAsync(channel, "n=$(( $(cat /tmp/counter) + 1 )); echo $n > /tmp/counter; cat /tmp/counter"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_prepared_restore_completes_later_and_an_unused_one_disposes_cleanly()
    {
        IPreparedRestore unused = await fixture.Backend.PrepareRestoreAsync(VmTestAssets.ServingMachine(), fixture.MappedDirectory);
        await unused.DisposeAsync();
        await using IPreparedRestore prepared = await fixture.Backend.PrepareRestoreAsync(VmTestAssets.ServingMachine(), fixture.MappedDirectory);
        await using IVirtualMachine vm = await prepared.CompleteAsync();
        await using Stream channel = await vm.ConnectAgentAsync();
        Assert.Equal("42", await VmTestAssets.RunInGuestAsync(channel, "cat /tmp/counter"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => prepared.CompleteAsync());
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public void Mapped_snapshot_is_a_small_state_file_and_a_sparse_ram_file_with_relative_names()
    {
        VmSnapshotInfo info = fixture.MappedInfo;
        Assert.Equal(VmSnapshotMode.MappedRam, info.Mode);
        Assert.Equal("qemu", info.Engine);
        Assert.Equal(fixture.Backend.Version, info.EngineVersion);
        Assert.Equal("Haswell-v2,-pcid,-x2apic,-tsc-deadline,-invpcid", info.CpuModel);
        Assert.All(info.Files, f => Assert.False(Path.IsPathRooted(f) || f.Contains('/')));
        string ram = Path.Combine(fixture.MappedDirectory, "ram");
        Assert.Equal(256L << 20, new FileInfo(ram).Length);
        // Zero pages are holes: a freshly booted 256 MiB busybox guest uses a fraction of its RAM.
        Assert.True(VmTestAssets.AllocatedBytes(ram) < (128L << 20), $"ram occupies {VmTestAssets.AllocatedBytes(ram)} bytes");
        Assert.True(new FileInfo(Path.Combine(fixture.MappedDirectory, "vmstate")).Length < (4L << 20));
        // Nothing in the files names the directory they were made in.
        string json = File.ReadAllText(Path.Combine(fixture.MappedDirectory, "qemu-snapshot.json"));
        Assert.DoesNotContain(fixture.MappedDirectory, json, StringComparison.Ordinal);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Concurrent_restores_are_independent_and_never_write_the_snapshot()
    {
        IVirtualMachine[] vms = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ =>
            fixture.Backend.RestoreAsync(VmTestAssets.ServingMachine(), fixture.MappedDirectory)));
        try
        {
            Stream[] channels = await Task.WhenAll(vms.Select(vm => vm.ConnectAgentAsync()));
            await Task.WhenAll(channels.Select((c, i) => VmTestAssets.RunInGuestAsync(c, $"echo vm{i} > /tmp/counter; dd if=/dev/urandom of=/tmp/noise bs=1M count=8 2>/dev/null")));
            string[] seen = await Task.WhenAll(channels.Select(c => VmTestAssets.RunInGuestAsync(c, "cat /tmp/counter")));
            Assert.Equal(["vm0", "vm1", "vm2"], seen);
            foreach (Stream c in channels)
            {
                await c.DisposeAsync();
            }
        }
        finally
        {
            await Task.WhenAll(vms.Select(vm => vm.DisposeAsync().AsTask()));
        }
        Assert.Equal(fixture.MappedHashes, VmTestAssets.HashFiles(fixture.MappedDirectory));
        // And a later restore still sees the snapshot's own state.
        Assert.Equal("42", await fixture.ReadCounterAfterRestoreAsync(fixture.MappedDirectory));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_moved_snapshot_directory_restores()
    {
        string copy = CopySnapshot(fixture.MappedDirectory);
        string moved = copy + "-moved";
        Directory.Move(copy, moved);
        try
        {
            Assert.Equal("42", await fixture.ReadCounterAfterRestoreAsync(moved));
        }
        finally
        {
            Directory.Delete(moved, recursive: true);
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Plain_migration_snapshot_restores()
    {
        Assert.Equal(VmSnapshotMode.Migration, fixture.PlainInfo.Mode);
        Assert.False(File.Exists(Path.Combine(fixture.PlainDirectory, "ram")));
        Assert.Equal("plain-state", await fixture.ReadCounterAfterRestoreAsync(fixture.PlainDirectory));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_restored_vm_can_be_snapshotted_again_with_its_new_state()
    {
        string again = VmTestAssets.NewDirectory("snap-again");
        try
        {
            await using (IVirtualMachine vm = await fixture.Backend.RestoreAsync(VmTestAssets.ServingMachine(), fixture.MappedDirectory))
            {
                await using (Stream channel = await vm.ConnectAgentAsync())
                {
                    await VmTestAssets.RunInGuestAsync(channel, "echo seeded > /tmp/counter");
                }
                VmSnapshotInfo info = await vm.SaveSnapshotAsync(again);
                Assert.Equal(VmSnapshotMode.Migration, info.Mode);
            }
            Assert.Equal("seeded", await fixture.ReadCounterAfterRestoreAsync(again));
        }
        finally
        {
            Directory.Delete(again, recursive: true);
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Incompatible_incomplete_or_truncated_snapshots_are_refused_with_their_codes()
    {
        string copy = CopySnapshot(fixture.MappedDirectory);
        try
        {
            string infoPath = Path.Combine(copy, "qemu-snapshot.json");
            var json = JsonNode.Parse(File.ReadAllText(infoPath))!;
            json["EngineVersion"] = "0.0.1";
            File.WriteAllText(infoPath, json.ToJsonString());
            var refused = await Assert.ThrowsAsync<SupermachineException>(() => fixture.Backend.RestoreAsync(VmTestAssets.ServingMachine(), copy));
            Assert.Equal("SM3202", refused.Code);
            Assert.Contains("engine version", refused.Message);
            Assert.Contains("Re-bake", refused.Message);

            json["EngineVersion"] = fixture.Backend.Version;
            File.WriteAllText(infoPath, json.ToJsonString());
            using (var ram = new FileStream(Path.Combine(copy, "ram"), FileMode.Open))
            {
                ram.SetLength(ram.Length / 2);
            }
            Assert.Equal("SM3201", Assert.Throws<SupermachineException>(() => fixture.Backend.ReadSnapshot(copy)).Code);

            File.Delete(Path.Combine(copy, "vmstate"));
            var missing = Assert.Throws<SupermachineException>(() => fixture.Backend.ReadSnapshot(copy));
            Assert.Equal("SM3201", missing.Code);
            Assert.Contains("vmstate", missing.Message);

            var saved = await Assert.ThrowsAsync<SupermachineException>(async () =>
            {
                await using IVirtualMachine vm = await fixture.Backend.StartAsync(VmTestAssets.ServingMachine());
                await vm.SaveSnapshotAsync(fixture.MappedDirectory);
            });
            Assert.Equal("SM3205", saved.Code);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    private static string CopySnapshot(string source)
    {
        string target = VmTestAssets.NewDirectory("snap-copy");
        using Process cp = Process.Start("cp", ["-a", "--sparse=always", "-T", source, target])!;
        cp.WaitForExit();
        Assert.Equal(0, cp.ExitCode);
        return target;
    }
}
