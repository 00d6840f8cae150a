using Supermachine.Diagnostics;

namespace Supermachine.Guest.Readiness;

/// <summary>
/// The warmup: a shell command run in the guest once the workload is ready and before the
/// snapshot (seed a database, prime a cache), so every restore starts warm. It runs as the
/// workload's commands do (its environment, user and directory); anything but exit 0 is SM3090.
/// </summary>
internal static class Warmup
{
    public static async Task RunAsync(AgentConnection agent, string name, string command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ExecResult result = await GuestProbe.RunAsync(agent, ["/bin/sh", "-c", command], timeout, cancellationToken).ConfigureAwait(false);
        if (result.ExitCode != 0 || result.Signal is not null || result.TimedOut)
        {
            string how = result.TimedOut ? $"a timeout after {timeout.TotalSeconds:F0} s" : result.Signal is int s ? $"signal {s}" : $"exit code {result.ExitCode}";
            string output = (result.StandardOutput + result.StandardError).TrimEnd();
            throw Errors.WarmupFailed(name, command, how, output.Length == 0 ? "(no output)" : output.Length > 4000 ? output[^4000..] : output);
        }
    }
}
