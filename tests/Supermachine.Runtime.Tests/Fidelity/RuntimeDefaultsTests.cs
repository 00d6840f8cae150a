using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// A restored guest looks like a Docker container from the inside: its hostname (the artifact name,
/// made a hostname) resolves to itself, nofile is 1048576, the CPU has AVX2, /dev/shm is 64 MiB,
/// cgroup2 is mounted read-only, /run is a tmpfs and /dev/fd links to /proc/self/fd.
/// </summary>
public class RuntimeDefaultsTests(BakedBusybox box) : IClassFixture<BakedBusybox>
{
    private async Task<string> Shell(string script)
    {
        ExecResult result = await box.Vm.ExecAsync(["sh", "-c", script]);
        Assert.True(result.ExitCode == 0, $"'{script}' exited with {result.ExitCode}: {result.StandardOutput}{result.StandardError}");
        return result.StandardOutput;
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_hostname_is_the_artifact_name_and_resolves_to_the_guest()
    {
        Assert.True(box.Vm.Restored);
        Assert.Equal("fidelity-box-1\n", await Shell("hostname"));
        Assert.Equal("fidelity-box-1\n", await Shell("cat /etc/hostname"));
        // busybox's hostname -i resolves the name through the C library, i.e. /etc/hosts.
        Assert.Equal("127.0.0.1", (await Shell("hostname -i")).Trim());
        Assert.Contains("127.0.0.1\tfidelity-box-1\n", await Shell("cat /etc/hosts"));
        Assert.Contains("127.0.0.1\tlocalhost", await Shell("cat /etc/hosts"));
        Assert.Equal("fidelity-box-1\n", await Shell("echo $HOSTNAME"));
        await WorkloadLogWait.UntilContainsAsync(box.Vm, "workload-hostname=fidelity-box-1");
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Open_files_are_limited_as_in_Docker()
    {
        Assert.Equal("1048576\n1048576\nunlimited\n", await Shell("ulimit -n; ulimit -Hn; ulimit -u"));
        // The workload has them too, not only execs (its shell has exec'd sleep once it printed).
        await WorkloadLogWait.UntilContainsAsync(box.Vm, "workload-hostname=");
        string limits = await Shell("cat /proc/$(pidof sleep)/limits");
        Assert.Matches(@"Max open files\s+1048576\s+1048576", limits);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_CPU_is_x86_64_v3()
    {
        string flags = (await Shell("grep -m1 '^flags' /proc/cpuinfo")).Split(':')[1];
        string[] have = flags.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (string feature in new[] { "avx", "avx2", "bmi1", "bmi2", "fma", "movbe", "f16c", "abm", "sse4_2", "popcnt" })
        {
            Assert.Contains(feature, have);
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Dev_shm_is_a_64_MiB_tmpfs_and_run_a_tmpfs()
    {
        string mounts = await Shell("cat /proc/mounts");
        Assert.Matches(@"(?m)^tmpfs /dev/shm tmpfs rw,nosuid,nodev,.*size=65536k", mounts);
        Assert.Matches(@"(?m)^tmpfs /run tmpfs rw,nosuid,nodev", mounts);
        Assert.Equal("65536\n", await Shell("df -k /dev/shm | awk 'NR==2 {print $2}'"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Dev_fd_and_the_standard_stream_links_are_there_as_in_Docker()
    {
        Assert.Equal("/proc/self/fd /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2\n", await Shell("echo $(for l in /dev/fd /dev/stdin /dev/stdout /dev/stderr; do readlink $l; done)"));
        Assert.Equal("through fd\n", await Shell("echo through fd | cat /dev/fd/0"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Cgroup2_is_mounted_read_only_with_the_VMs_memory_and_CPUs_as_its_limits()
    {
        string mounts = await Shell("cat /proc/mounts");
        Assert.Matches(@"(?m)^cgroup2 /sys/fs/cgroup cgroup2 ro,", mounts);
        string controllers = await Shell("cat /sys/fs/cgroup/cgroup.controllers");
        Assert.Contains("memory", controllers);
        Assert.Contains("cpu", controllers);
        Assert.Equal("0::/\n", await Shell("cat /proc/self/cgroup"));
        // Its limits are the VM's: what a JVM or .NET reads as the container's size.
        long memTotalKiB = long.Parse((await Shell("awk '/^MemTotal:/ {print $2}' /proc/meminfo")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(memTotalKiB * 1024, long.Parse((await Shell("cat /sys/fs/cgroup/memory.max")).Trim(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal($"{box.Vm.Image.Manifest.Machine.Vcpus * 100000} 100000\n", await Shell("cat /sys/fs/cgroup/cpu.max"));
        ExecResult write = await box.Vm.ExecAsync(["sh", "-c", "mkdir /sys/fs/cgroup/escape"]);
        Assert.NotEqual(0, write.ExitCode);
        Assert.Contains("Read-only", write.StandardError);
    }
}
