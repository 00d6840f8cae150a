using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Supermachine.Tests.Infrastructure;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Tests.Vmm;

public class OwnerDeathTests
{
    internal const string ChildVariable = "SUPERMACHINE_TEST_OWNER_CHILD";

    [RequiresToolFact("qemu-system-x86_64")]
    public Task Killing_the_owner_with_SIGKILL_leaves_no_qemu_behind() => KillOwnerAsync(watch: null);

    /// <summary>The watch macOS uses (no helper binary there), run here by asking for it.</summary>
    [RequiresToolFact("qemu-system-x86_64")]
    public Task Killing_the_owner_with_SIGKILL_leaves_no_qemu_behind_under_the_shell_watch() => KillOwnerAsync(watch: "shell");

    private static async Task KillOwnerAsync(string? watch)
    {
        string runtimeDirectory = VmTestAssets.NewDirectory("owner");
        Supermachine.Vmm.VmMachineSpec spec = VmTestAssets.ServingMachine();
        // The child is this very test assembly run as a program: its module initializer sees the
        // variable, starts a VM through QemuBackend, says READY and waits to be killed.
        string assembly = typeof(OwnerDeathTests).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(assembly);
        start.Environment[ChildVariable] = string.Join('\n', runtimeDirectory, spec.KernelPath, spec.InitrdPath, spec.RootfsPath);
        if (watch is not null)
        {
            start.Environment[Supermachine.Vmm.ProcessLifetime.OwnerWatch.EnvironmentVariable] = watch;
        }
        using Process child = Process.Start(start)!;
        Task<string> stderr = child.StandardError.ReadToEndAsync();
        string? line;
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
        {
            line = await child.StandardOutput.ReadLineAsync(cts.Token);
        }
        Assert.True(line == "READY", $"child said '{line}', stderr: {(child.HasExited ? await stderr : "")}");
        Assert.NotEmpty(ProcessesMentioning(runtimeDirectory, "qemu-system"));

        child.Kill(); // SIGKILL: no finalizers, no exit handlers
        await child.WaitForExitAsync();

        var clock = Stopwatch.StartNew();
        while (ProcessesMentioning(runtimeDirectory, "qemu-system").Count > 0 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }
        Assert.Empty(ProcessesMentioning(runtimeDirectory, "qemu-system"));
        Assert.Empty(ProcessesMentioning(runtimeDirectory, "owner-watch"));
        Directory.Delete(runtimeDirectory, recursive: true);
    }

    /// <summary>Pids of processes whose command line holds both strings.</summary>
    internal static List<int> ProcessesMentioning(string text, string program)
    {
        var found = new List<int>();
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
            {
                continue;
            }
            try
            {
                string cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(text, StringComparison.Ordinal) && cmdline.Contains(program, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return found;
    }
}

/// <summary>
/// The child side of <see cref="OwnerDeathTests"/>: when this assembly runs as a program with the
/// variable set, start a VM and block. Does nothing inside the test host.
/// </summary>
internal static class OwnerChild
{
    [ModuleInitializer]
#pragma warning disable CA2255 // A test assembly doubles as the child program; nothing else uses it.
    internal static void Run()
#pragma warning restore CA2255
    {
        string? request = Environment.GetEnvironmentVariable(OwnerDeathTests.ChildVariable);
        if (request is null || Assembly.GetEntryAssembly() != typeof(OwnerChild).Assembly)
        {
            return;
        }
        string[] paths = request.Split('\n');
        var spec = new Supermachine.Vmm.VmMachineSpec { RuntimeDirectory = paths[0], KernelPath = paths[1], InitrdPath = paths[2], RootfsPath = paths[3] };
        var vm = new QemuBackend().StartAsync(spec).GetAwaiter().GetResult();
        Console.WriteLine("READY");
        GC.KeepAlive(vm);
        Thread.Sleep(Timeout.Infinite);
    }
}
