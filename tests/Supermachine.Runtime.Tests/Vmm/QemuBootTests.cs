using Supermachine.Tests.Infrastructure;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Tests.Vmm;

/// <summary>One serving VM, booted once for the class.</summary>
public sealed class BootedVmFixture : IAsyncLifetime
{
    internal IVirtualMachine Vm { get; private set; } = null!;

    public TimeSpan BootTime { get; private set; }

    public async Task InitializeAsync()
    {
        if (TestEnvironment.FindTool("qemu-system-x86_64") is null && !TestEnvironment.IsCI)
        {
            return;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Vm = await new QemuBackend().StartAsync(VmTestAssets.ServingMachine());
        await Vm.WaitForConsoleAsync(VmTestAssets.BootMarker, TimeSpan.FromSeconds(120));
        BootTime = clock.Elapsed;
    }

    public async Task DisposeAsync()
    {
        if (Vm is not null)
        {
            await Vm.DisposeAsync();
        }
    }
}

public class QemuBootTests(BootedVmFixture fixture) : IClassFixture<BootedVmFixture>
{
    [RequiresToolFact("qemu-system-x86_64")]
    public void Boots_to_the_marker_with_the_rootfs_mounted_read_only_from_vda()
    {
        string console = fixture.Vm.ReadConsoleTail(64 * 1024);
        Assert.Contains(VmTestAssets.RootfsMarker, console);
        Assert.Contains(VmTestAssets.BootMarker + " /dev/vport", console);
        Assert.Equal("Haswell-v2,-pcid,-x2apic,-tsc-deadline,-invpcid", fixture.Vm.CpuModel);
        Assert.False(string.IsNullOrWhiteSpace(fixture.Vm.AcceleratorReason));
        if (Directory.Exists("/sys/module/kvm_pvm"))
        {
            Assert.Equal(Accelerator.Tcg, fixture.Vm.Accelerator);
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public void Runtime_directory_is_private_and_holds_the_sockets()
    {
        string dir = fixture.Vm.RuntimeDirectory;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir));
        Assert.True(File.Exists(Path.Combine(dir, "qmp.sock")));
        Assert.True(File.Exists(Path.Combine(dir, "agent.sock")));
        Assert.StartsWith(dir, fixture.Vm.ConsoleLogPath, StringComparison.Ordinal);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Waiting_for_output_that_never_comes_times_out_with_SM3106_and_the_console()
    {
        var e = await Assert.ThrowsAsync<SupermachineException>(
            () => fixture.Vm.WaitForConsoleAsync("never-printed-" + Guid.NewGuid(), TimeSpan.FromSeconds(1)));
        Assert.Equal("SM3106", e.Code);
        Assert.Contains(VmTestAssets.BootMarker, e.Message);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Agent_channel_carries_bytes_both_ways()
    {
        string token = Guid.NewGuid().ToString("N");
        await using (Stream channel = await fixture.Vm.ConnectAgentAsync())
        {
            Assert.Equal("echo:" + token, await VmTestAssets.RunInGuestAsync(channel, $"echo echo:{token}"));
            // The guest really ran it: the kernel answers from inside.
            Assert.Equal("Linux", await VmTestAssets.RunInGuestAsync(channel, "uname -s"));
        }
        // A second connection works after the first one closed (reconnect, as after a restore).
        await using Stream again = await fixture.Vm.ConnectAgentAsync();
        Assert.Equal("again", await VmTestAssets.RunInGuestAsync(again, "echo again"));
    }
}
