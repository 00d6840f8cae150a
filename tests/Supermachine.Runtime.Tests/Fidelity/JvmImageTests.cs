using System.Globalization;
using System.Text.RegularExpressions;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// A JVM (Debian's openjdk-17-jre-headless) sizes its heap and thread pools by the VM, as it would
/// by a container: it finds the cgroup2 tree the agent mounts, whose limits are the VM's memory and
/// vCPUs. The default heap limit is a quarter of that memory.
/// </summary>
public sealed partial class JvmImageTests
{
    [GeneratedRegex(@"maxMemory=(\d+) availableProcessors=(\d+)")]
    private static partial Regex Sizes();

    private static (long MaxMemory, int Processors) Parse(string text)
    {
        Match m = Sizes().Match(text);
        Assert.True(m.Success, "no sizes in: " + text);
        return (long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    private static async Task<long> MemoryLimitAsync(MicroVm vm)
    {
        ExecResult limit = await vm.ExecAsync(["cat", "/sys/fs/cgroup/memory.max"]);
        return long.Parse(limit.StandardOutput.Trim(), CultureInfo.InvariantCulture);
    }

    private static void AssertQuarterOf(long limit, long maxMemory) =>
        Assert.True(maxMemory > limit * 0.2 && maxMemory <= limit * 0.26, $"maxMemory {maxMemory} is not about a quarter of the VM's {limit}");

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Max_memory_and_processors_follow_the_restored_VMs_size()
    {
        MicroVmImage image = await DebianBakes.Jvm.BakeAsync();
        await using MicroVm vm = await MicroVm.StartAsync(image, DebianBakes.StartOptions);
        Assert.True(vm.Restored);
        long limit = await MemoryLimitAsync(vm);
        Assert.InRange(limit, 640L << 20, 768L << 20);

        // What the workload printed before the snapshot, and a fresh JVM in the restored guest.
        var (baked, bakedProcessors) = Parse((await vm.GetWorkloadLogAsync()).Text);
        Assert.Equal(2, bakedProcessors);
        AssertQuarterOf(limit, baked);
        ExecResult once = await vm.ExecAsync(["java", "-cp", "/app", "Sizes", "--once"]);
        Assert.True(once.ExitCode == 0, once.StandardError);
        var (fresh, freshProcessors) = Parse(once.StandardOutput);
        Assert.Equal(2, freshProcessors);
        AssertQuarterOf(limit, fresh);

        // The JVM read those from the cgroup, as in a container.
        ExecResult settings = await vm.ExecAsync(["java", "-XshowSettings:system", "-version"]);
        string system = settings.StandardOutput + settings.StandardError;
        Assert.Contains("Provider: cgroupv2", system);
        Assert.Matches(@"Effective CPU Count: 2\b", system);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_cold_boot_of_another_size_gives_the_JVM_that_size()
    {
        MicroVmImage image = await DebianBakes.Jvm.BakeAsync();
        await using MicroVm vm = await MicroVm.StartAsync(image, new MicroVmOptions
        {
            ColdBoot = true,
            MemoryMiB = 1024,
            Vcpus = 1,
            StartTimeout = DebianBakes.StartOptions.StartTimeout,
        });
        Assert.False(vm.Restored);
        long limit = await MemoryLimitAsync(vm);
        Assert.InRange(limit, 880L << 20, 1024L << 20);
        var (maxMemory, processors) = Parse(await WorkloadLogWait.UntilContainsAsync(vm, "availableProcessors=", TimeSpan.FromMinutes(5)));
        Assert.Equal(1, processors);
        AssertQuarterOf(limit, maxMemory);
    }
}
