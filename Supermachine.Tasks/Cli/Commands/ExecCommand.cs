namespace Supermachine.Tasks.Cli.Commands;

internal static class ExecCommand
{
    public static readonly CommandSpec Spec = new(
        "exec",
        "SNAPSHOT_DIR -- ARGV...",
        "Restore SNAPSHOT_DIR, run ARGV in the guest, stream its output and exit with its code.",
        MinArguments: 1,
        MaxArguments: 1,
        Options: [
            new OptionSpec("env", "e", "K=V", "Environment variable for the command.", Repeatable: true),
            new OptionSpec("workdir", "w", "DIR", "Working directory in the guest."),
            new OptionSpec("user", "u", "USER", "User name or uid[:gid] in the guest.")],
        Run: (command, cancellationToken) => NotImplemented.Run("supermachine exec", "Boot an image in a microVM"),
        AcceptsTrailingArguments: true);
}
