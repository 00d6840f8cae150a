using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// A Debian guest (the nginx fixture image, glibc and bash) sees Docker's defaults through the
/// tools real images use: glibc resolves the hostname, bash's ulimit shows nofile 1048576 and the
/// CPU has AVX2.
/// </summary>
public sealed class DebianGuestTests
{
    private static async Task<string> BashAsync(MicroVm vm, string script)
    {
        ExecResult result = await vm.ExecAsync(["bash", "-c", script]);
        Assert.True(result.ExitCode == 0, $"'{script}' exited with {result.ExitCode}: {result.StandardOutput}{result.StandardError}");
        return result.StandardOutput;
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Glibc_resolves_the_hostname_nofile_is_Dockers_and_the_CPU_has_AVX2()
    {
        await using MicroVm vm = await MicroVm.StartAsync(await DebianBakes.Nginx.BakeAsync(), DebianBakes.StartOptions);
        Assert.Equal("fidelity-nginx\n", await BashAsync(vm, "hostname"));
        Assert.Matches(@"^127\.0\.0\.1\s+fidelity-nginx\b", await BashAsync(vm, "getent hosts \"$(hostname)\""));
        Assert.Equal("1048576\n", await BashAsync(vm, "ulimit -n"));
        Assert.Matches(@"Max open files\s+1048576\s+1048576", await BashAsync(vm, "cat /proc/$(cat /run/nginx.pid)/limits"));
        Assert.Contains(" avx2 ", await BashAsync(vm, "grep -m1 '^flags' /proc/cpuinfo") + " ");
    }
}
