using Supermachine.Guest;

namespace Supermachine.Tasks.Cli.Commands;

internal static class ExecCommand
{
    public static readonly CommandSpec Spec = new(
        "exec",
        "SNAPSHOT_DIR|IMAGE -- ARGV...",
        "Start SNAPSHOT_DIR (restoring its snapshot) or IMAGE, run ARGV in the guest, stream its output and exit with its code.",
        MinArguments: 1,
        MaxArguments: 1,
        Options: [
            new OptionSpec("env", "e", "K=V", "Environment variable for the command.", Repeatable: true),
            new OptionSpec("workdir", "w", "DIR", "Working directory in the guest."),
            new OptionSpec("user", "u", "USER", "User name or uid[:gid] in the guest."),
            new OptionSpec("timeout", null, "SECONDS", "Kill the command after this long."),
            BakeCommand.NetworkOption,
            BakeCommand.PlatformOption,
            BakeCommand.AliasOption,
            BakeCommand.HostPortOption,
            BakeCommand.RunVolumeOption,
            BakeCommand.VolumeDirectoryOption,
            new OptionSpec("disk", null, "MIB", "For IMAGE: size of the guest's writable disk in MiB, sparse (default 8192)."),
            .. ReadinessOptions.Options(build: false),
            .. BakeCommand.WorkloadOptions.Where(o => o.Name is not ("user" or "workdir"))],
        Run: RunAsync,
        AcceptsTrailingArguments: true);

    private static async Task<int> RunAsync(ParsedCommand command, CancellationToken cancellationToken)
    {
        if (command.Trailing.Count == 0)
        {
            throw new UsageException("'exec' needs the command to run after '--'", Spec);
        }
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in command.Values("env"))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0)
            {
                throw new UsageException($"--env takes NAME=VALUE, not '{pair}'", Spec);
            }
            environment[pair[..eq]] = pair[(eq + 1)..];
        }
        TimeSpan? timeout = command.Value("timeout") is string t
            ? int.TryParse(t, out int seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : throw new UsageException($"--timeout takes whole seconds, not '{t}'", Spec)
            : null;

        // Options before "--" are exec options; the image is started with its own workload as baked.
        var (vm, temporary) = await ImageStarter.StartAsync(command, command.Arguments[0], cancellationToken).ConfigureAwait(false);
        try
        {
            await using (vm)
            {
                await using AgentProcess process = await vm.StartProcessAsync(new ExecRequest(command.Trailing)
                {
                    Environment = environment.Count > 0 ? environment : null,
                    WorkingDirectory = command.Value("workdir"),
                    User = command.Value("user"),
                    Timeout = timeout,
                }, cancellationToken).ConfigureAwait(false);
                Task input = Console.IsInputRedirected
                    ? CopyAndCloseAsync(Console.OpenStandardInput(), process.StandardInput, cancellationToken)
                    : process.StandardInput.CompleteWritesAsync(cancellationToken).AsTask();
                Task output = process.StandardOutput.CopyToAsync(Console.OpenStandardOutput(), cancellationToken);
                Task error = process.StandardError.CopyToAsync(Console.OpenStandardError(), cancellationToken);
                ExecExit exit = await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                await Task.WhenAll(output, error).ConfigureAwait(false);
                _ = input;
                if (exit.TimedOut)
                {
                    HostOutput.Progress($"supermachine: '{command.Trailing[0]}' timed out and was killed");
                }
                // As a shell reports it: a signal is 128 + its number.
                return exit.Signal is int signal ? 128 + signal : exit.ExitCode;
            }
        }
        finally
        {
            ImageStarter.Cleanup(temporary);
        }
    }

    private static async Task CopyAndCloseAsync(Stream source, AgentDuplexStream destination, CancellationToken cancellationToken)
    {
        await source.CopyToAsync(destination, cancellationToken).ConfigureAwait(false);
        await destination.CompleteWritesAsync(cancellationToken).ConfigureAwait(false);
    }
}
