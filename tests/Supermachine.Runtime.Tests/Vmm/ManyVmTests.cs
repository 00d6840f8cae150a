using Supermachine.Tests.Infrastructure;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Tests.Vmm;

public class ManyVmTests
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Four_vms_boot_at_once_each_with_its_own_runtime_directory_and_channel()
    {
        var backend = new QemuBackend();
        IVirtualMachine[] vms = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => backend.StartAsync(VmTestAssets.ServingMachine())));
        try
        {
            Assert.Equal(4, vms.Select(vm => vm.RuntimeDirectory).Distinct().Count());
            await Task.WhenAll(vms.Select(vm => vm.WaitForConsoleAsync(VmTestAssets.BootMarker, TimeSpan.FromSeconds(240))));
            string[] answers = await Task.WhenAll(vms.Select(async (vm, i) =>
            {
                await using Stream channel = await vm.ConnectAgentAsync();
                return await VmTestAssets.RunInGuestAsync(channel, $"echo vm-{i}");
            }));
            Assert.Equal(["vm-0", "vm-1", "vm-2", "vm-3"], answers);
        }
        finally
        {
            await Task.WhenAll(vms.Select(vm => vm.DisposeAsync().AsTask()));
        }
        // Disposed VMs leave nothing behind: no process, no runtime directory.
        Assert.All(vms, vm => Assert.False(Directory.Exists(vm.RuntimeDirectory)));
        Assert.All(vms, vm => Assert.Empty(OwnerDeathTests.ProcessesMentioning(vm.RuntimeDirectory, "qemu-system")));
    }
}
