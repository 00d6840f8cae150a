using System.Diagnostics;
using Supermachine.Vmm.ProcessLifetime;

namespace Supermachine.Tests.Vmm;

/// <summary>
/// The /bin/sh owner watch that macOS uses (no helper can be built for it here), run on Linux:
/// the watched program's output and exit status pass through, and the end of the pipe from its
/// owner kills it.
/// </summary>
public class OwnerWatchShellTests
{
    [Fact]
    public async Task Output_and_exit_status_of_the_watched_program_pass_through()
    {
        using Process process = OwnerWatch.Start("/bin/sh", ["-c", "echo out; echo err >&2; exit 7"], null, OwnerWatchMode.Shell);
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(7, process.ExitCode);
        Assert.Equal("out\n", await stdout);
        Assert.Equal("err\n", await stderr);
    }

    [Fact]
    public async Task The_watched_program_dies_when_the_pipe_from_its_owner_ends()
    {
        (Process started, string marker) = await StartSleepAsync();
        using Process process = started;

        // What the kernel does when the owner dies, even by SIGKILL: the write end closes.
        process.StandardInput.Close();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(137, process.ExitCode); // the program's SIGKILL, passed through
        await WaitUntilAsync(() => OwnerDeathTests.ProcessesMentioning(marker, "sleep").Count == 0);
    }

    [Fact]
    public async Task Killing_through_the_owner_watch_takes_the_program_down_with_the_shell()
    {
        (Process started, string marker) = await StartSleepAsync();
        using Process process = started;
        OwnerWatch.Kill(process);
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await WaitUntilAsync(() => OwnerDeathTests.ProcessesMentioning(marker, "sleep").Count == 0);
    }

    /// <summary>A sleep under the shell watch, once it runs; its unique argument finds it among the processes.</summary>
    private static async Task<(Process Process, string Marker)> StartSleepAsync()
    {
        string marker = Random.Shared.Next(100000, 999999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Process process = OwnerWatch.Start("sleep", [marker], null, OwnerWatchMode.Shell);
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        await WaitUntilAsync(() => OwnerDeathTests.ProcessesMentioning(marker, "sleep").Count > 0);
        return (process, marker);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the condition did not hold within 30 s");
            await Task.Delay(20);
        }
    }
}
