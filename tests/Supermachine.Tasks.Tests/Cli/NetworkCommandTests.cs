using System.Diagnostics;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.MicroVms;

namespace Supermachine.Tasks.Tests.Cli;

/// <summary>
/// `--network NAME --alias A` joins VMs of separate supermachine processes: a redis VM served by
/// `run` as db, reached by `redis-cli -h db ping` in an `exec` of another process, also after the
/// process that started the network (and ran its switch) is killed.
/// </summary>
public class NetworkCommandTests(BakedRedis baked) : IClassFixture<BakedRedis>
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "Supermachine.Tasks.dll");

    /// <summary>Starts `supermachine run` and waits for its "Ctrl+C stops it" line.</summary>
    private static async Task<Process> RunAsync(params string[] arguments)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in (string[])[Cli, "run", "--verbose", .. arguments])
        {
            psi.ArgumentList.Add(a);
        }
        Process process = Process.Start(psi)!;
        var ready = new TaskCompletionSource();
        var log = new System.Text.StringBuilder();
        // run is silent but for the workload unless --verbose, which prints the line on stderr.
        void Received(object sender, DataReceivedEventArgs e)
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }
            if (e.Data?.Contains("Ctrl+C stops it", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        }
        process.OutputDataReceived += Received;
        process.ErrorDataReceived += Received;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Task exited = process.WaitForExitAsync();
        if (await Task.WhenAny(ready.Task, exited, Task.Delay(TimeSpan.FromMinutes(4))) != ready.Task)
        {
            Kill(process);
            lock (log)
            {
                throw new Xunit.Sdk.XunitException("supermachine run did not get ready:\n" + log);
            }
        }
        return process;
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: false);
            process.WaitForExit(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
        }
    }

    private async Task<ProcessResult> PingDbAsync(string network, string alias) =>
        await ProcessRunner.RunAsync("dotnet", [Cli, "exec", baked.Image.Directory, "--network", network, "--alias", alias, "--", "redis-cli", "-h", "db", "ping"], timeout: TimeSpan.FromMinutes(4));

    [RequiresToolFact("qemu-system-x86_64", "passt")]
    public async Task Redis_cli_in_one_process_reaches_redis_as_db_in_another_even_after_the_first_process_dies()
    {
        string network = "cli-" + Guid.NewGuid().ToString("N")[..8];
        Process first = await RunAsync(baked.Image.Directory, "--network", network, "--alias", "first");
        Process? db = null;
        try
        {
            db = await RunAsync(baked.Image.Directory, "--network", network, "--alias", "db");
            ProcessResult ping = await PingDbAsync(network, "client");
            Assert.True(ping.ExitCode == 0, ping.Output);
            Assert.Equal("PONG", ping.StandardOutput.Trim());

            // SIGKILL the process that joined first (it ran the switch): the others carry on.
            Kill(first);
            ProcessResult again = await PingDbAsync(network, "client2");
            Assert.True(again.ExitCode == 0, again.Output);
            Assert.Equal("PONG", again.StandardOutput.Trim());
        }
        finally
        {
            Kill(first);
            if (db is not null)
            {
                Kill(db);
            }
        }
    }
}
