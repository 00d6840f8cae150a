namespace Supermachine.Tasks.Cli.Commands;

internal static class RunCommand
{
    public static readonly CommandSpec Spec = new(
        "run",
        "SNAPSHOT_DIR",
        "Restore SNAPSHOT_DIR and serve until Ctrl+C.",
        MinArguments: 1,
        MaxArguments: 1,
        Options: [
            new OptionSpec("publish", "p", "HOST:GUEST", "Forward host 127.0.0.1:HOST to guest port GUEST.", Repeatable: true)],
        Run: (command, cancellationToken) => NotImplemented.Run("supermachine run", "Boot an image in a microVM"));
}
