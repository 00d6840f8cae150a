using System.Diagnostics;
using Supermachine.Bake;
using Supermachine.FileSystem;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Tests.FileSystem;

/// <summary>
/// What a killed run leaves (VM runtime directories with their RAM file, staging directories,
/// build scratch) is removed by a later run: by PID and start time, so a live process's scratch
/// stays and a recycled PID does not keep a dead one's alive.
/// </summary>
public class ScratchFilesTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-scratch-").FullName;

    /// <summary>A real process, its owner token while it runs, then killed with SIGKILL.</summary>
    private static async Task<string> OwnerOfKilledProcessAsync()
    {
        using Process sleeper = Process.Start(new ProcessStartInfo("sleep", "60"))!;
        string owner = ScratchFiles.OwnerOf(sleeper.Id);
        Assert.True(ScratchFiles.IsAlive(sleeper.Id, long.Parse(owner.Split('_')[1])));
        sleeper.Kill(); // SIGKILL: nothing of it gets to clean up
        await sleeper.WaitForExitAsync();
        return owner;
    }

    private string Make(string name, bool directory = true)
    {
        string path = Path.Combine(_root, name);
        if (directory)
        {
            Directory.CreateDirectory(path);
            File.WriteAllBytes(Path.Combine(path, "ram"), new byte[4096]);
        }
        else
        {
            File.WriteAllText(path, "x");
        }
        return path;
    }

    [Fact]
    public async Task Leftovers_of_a_killed_process_are_removed_and_those_of_live_ones_kept()
    {
        string dead = await OwnerOfKilledProcessAsync();
        string deadRuntime = Make($"sm-{dead}-0a1b2c3d");
        string deadStaging = Make($"abcdef.staging-{dead}");
        string deadTrash = Make($"abcdef.old-{dead}");
        string deadFile = Make($"rootfs-{dead}-chain.sqfs", directory: false);
        string mine = Make(ScratchFiles.Name("sm", "ffff"));
        using Process running = Process.Start(new ProcessStartInfo("sleep", "60"))!;
        string live = Make($"sm-{ScratchFiles.OwnerOf(running.Id)}-eeee");
        string unrelated = Make("sm-notes");
        string otherKind = Make($"keep-{dead}-1");

        int removed = ScratchFiles.DeleteOrphans(_root, "sm", "staging", "old", "rootfs");

        Assert.Equal(4, removed);
        Assert.All(new[] { deadRuntime, deadStaging, deadTrash, deadFile }, p => Assert.False(Path.Exists(p), p));
        Assert.All(new[] { mine, live, unrelated, otherKind }, p => Assert.True(Path.Exists(p), p));
        running.Kill();
    }

    [Fact]
    public void A_recycled_pid_with_another_start_time_does_not_keep_leftovers_alive()
    {
        // The PID runs, but it is not the process that made the scratch (that one started earlier).
        using Process running = Process.Start(new ProcessStartInfo("sleep", "60"))!;
        long start = long.Parse(ScratchFiles.OwnerOf(running.Id).Split('_')[1]);
        string recycled = Make($"sm-{running.Id}_{start - 1}-abcd");
        string current = Make($"sm-{running.Id}_{start}-abcd");
        Assert.False(ScratchFiles.IsAlive(running.Id, start - 1));
        Assert.True(ScratchFiles.IsAlive(running.Id, start));

        ScratchFiles.DeleteOrphans(_root, "sm");
        Assert.False(Directory.Exists(recycled));
        Assert.True(Directory.Exists(current));
        running.Kill();
    }

    [Fact]
    public async Task A_new_staging_directory_sweeps_the_staging_and_replaced_directories_of_dead_bakes_beside_it()
    {
        string dead = await OwnerOfKilledProcessAsync();
        string leftover = Make($"0123456789abcdef0123456789abcdef.staging-{dead}");
        string trash = Make($"0123456789abcdef0123456789abcdef.old-{dead}");

        string staging = SnapshotDirectory.CreateStaging(Path.Combine(_root, "fedcba9876543210fedcba9876543210"));

        Assert.False(Directory.Exists(leftover));
        Assert.False(Directory.Exists(trash));
        Assert.EndsWith(".staging-" + ScratchFiles.Owner, staging);
    }

    [Fact]
    public async Task A_new_VM_runtime_directory_sweeps_those_of_killed_runs_in_its_root()
    {
        string dead = await OwnerOfKilledProcessAsync();
        string leftover = Make($"sm-{dead}-0a1b2c3d");
        var backend = new QemuBackend(new QemuBackendOptions { RuntimeRoot = _root });

        (string path, bool owned) = backend.PrepareRuntimeDirectory(new Supermachine.Vmm.VmMachineSpec { KernelPath = "k", InitrdPath = "i", RootfsPath = "r" });

        Assert.True(owned);
        Assert.StartsWith(Path.Combine(_root, "sm-" + ScratchFiles.Owner + "-"), path);
        Assert.False(Directory.Exists(leftover));
        QemuBackend.Cleanup(path, owned);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
