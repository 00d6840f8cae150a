using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Tests.Vmm;

public class QemuFailureTests
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task An_init_that_exits_is_a_kernel_panic_error_with_the_console_tail()
    {
        VmMachineSpec spec = VmTestAssets.MachineRunning("exits", "echo init-about-to-exit\nexit 3");
        await using IVirtualMachine vm = await new QemuBackend().StartAsync(spec);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => vm.WaitForConsoleAsync("never-printed", TimeSpan.FromSeconds(180)));
        Assert.Equal("SM3105", e.Code);
        Assert.True(e.Message.Contains("init-about-to-exit", StringComparison.Ordinal), e.Message);
        Assert.Contains("Kernel panic", e.Message);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task QEMU_exiting_at_start_is_an_error_quoting_QEMU()
    {
        string dir = VmTestAssets.NewDirectory("badkernel");
        string kernel = Path.Combine(dir, "not-a-kernel");
        File.WriteAllBytes(kernel, new byte[4096]);
        VmMachineSpec spec = VmTestAssets.ServingMachine() with { KernelPath = kernel };
        var e = await Assert.ThrowsAsync<SupermachineException>(async () =>
        {
            await using IVirtualMachine vm = await new QemuBackend().StartAsync(spec);
            await vm.WaitForConsoleAsync(VmTestAssets.BootMarker, TimeSpan.FromSeconds(60));
        });
        Assert.Equal("SM3104", e.Code);
        Assert.Contains("kernel", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_architecture_without_QEMU_names_what_to_install()
    {
        if (Environment.GetEnvironmentVariable(QemuLocator.EnvironmentVariable) is not null)
        {
            return; // an explicit SUPERMACHINE_QEMU wins over the search; covered below
        }
        var e = Assert.Throws<SupermachineException>(() => QemuLocator.Locate("riscv99"));
        Assert.Equal("SM3101", e.Code);
        Assert.Contains("qemu-system-riscv99", e.Message);
        Assert.Contains("install", e.Message);
    }

    [Fact]
    public void An_unknown_accelerator_name_is_refused()
    {
        Assert.Equal(Accelerator.Kvm, AcceleratorProbe.Parse(" KVM "));
        Assert.Equal("SM3103", Assert.Throws<SupermachineException>(() => AcceleratorProbe.Parse("warp")).Code);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public void The_probe_guest_runs_and_on_kvm_pvm_hosts_the_choice_is_tcg_with_the_reason()
    {
        string qemu = QemuLocator.Locate();
        // The probe firmware really runs to isa-debug-exit (here under TCG, which always works).
        Assert.NotNull(GuestArchitecture.Amd64.Probe.Run(qemu, Accelerator.Tcg, TimeSpan.FromSeconds(60)));
        AcceleratorChoice choice = AcceleratorProbe.Choose(qemu);
        Assert.False(string.IsNullOrWhiteSpace(choice.Reason));
        if (Directory.Exists("/sys/module/kvm_pvm") && Environment.GetEnvironmentVariable(AcceleratorProbe.EnvironmentVariable) is null)
        {
            Assert.Equal(Accelerator.Tcg, choice.Accelerator);
            Assert.Contains("kvm_pvm", choice.Reason);
        }
        Assert.Equal(new AcceleratorChoice(Accelerator.Hvf, "requested by the caller"), AcceleratorProbe.Choose(qemu, Accelerator.Hvf));
    }
}

/// <summary>Tests that change process-wide environment variables run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(EnvironmentChangingCollection), DisableParallelization = true)]
public sealed class EnvironmentChangingCollection;

[Collection(nameof(EnvironmentChangingCollection))]
public class QemuEnvironmentTests
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task SUPERMACHINE_QEMU_pointing_nowhere_is_SM3102_at_start()
    {
        string? before = Environment.GetEnvironmentVariable(QemuLocator.EnvironmentVariable);
        Environment.SetEnvironmentVariable(QemuLocator.EnvironmentVariable, "/nonexistent/qemu-system-x86_64");
        try
        {
            var e = await Assert.ThrowsAsync<SupermachineException>(() => new QemuBackend().StartAsync(VmTestAssets.ServingMachine()));
            Assert.Equal("SM3102", e.Code);
            Assert.Contains("/nonexistent/qemu-system-x86_64", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(QemuLocator.EnvironmentVariable, before);
        }
    }

    [Fact]
    public void SUPERMACHINE_ACCELERATOR_overrides_the_measurement_and_says_so()
    {
        string? before = Environment.GetEnvironmentVariable(AcceleratorProbe.EnvironmentVariable);
        Environment.SetEnvironmentVariable(AcceleratorProbe.EnvironmentVariable, "whpx");
        try
        {
            AcceleratorChoice choice = AcceleratorProbe.Choose("/unused/qemu");
            Assert.Equal(Accelerator.Whpx, choice.Accelerator);
            Assert.Contains(AcceleratorProbe.EnvironmentVariable, choice.Reason);
            Environment.SetEnvironmentVariable(AcceleratorProbe.EnvironmentVariable, "bogus");
            Assert.Equal("SM3103", Assert.Throws<SupermachineException>(() => AcceleratorProbe.Choose("/unused/qemu")).Code);
        }
        finally
        {
            Environment.SetEnvironmentVariable(AcceleratorProbe.EnvironmentVariable, before);
        }
    }
}
