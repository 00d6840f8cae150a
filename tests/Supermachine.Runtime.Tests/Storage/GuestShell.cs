using Supermachine.Guest;

namespace Supermachine.Tests.Storage;

/// <summary>Shell commands in a storage test's guest, as root (the volume roots and /proc/sys need it).</summary>
internal static class GuestShell
{
    public static async Task<ExecResult> RunAsync(MicroVm vm, string script) =>
        await vm.ExecAsync(new ExecRequest(["sh", "-c", script]) { User = "root" });

    /// <summary>The script's standard output; fails the test when it exits non-zero.</summary>
    public static async Task<string> ShAsync(MicroVm vm, string script)
    {
        ExecResult result = await RunAsync(vm, script);
        Assert.True(result.ExitCode == 0, $"'{script}' exited with {result.ExitCode}: {result.StandardOutput}{result.StandardError}");
        return result.StandardOutput;
    }
}
