namespace Supermachine.Tasks.Cli.Commands;

internal static class BakeCommand
{
    public static readonly CommandSpec Spec = new(
        "bake",
        "IMAGE SNAPSHOT_DIR",
        "Pull, flatten, boot once, wait until ready and snapshot IMAGE into SNAPSHOT_DIR.",
        MinArguments: 2,
        MaxArguments: 2,
        Options: [
            new OptionSpec("port", "p", "PORT", "Guest port that must listen before the snapshot is taken."),
            new OptionSpec("env", "e", "K=V", "Environment variable for the workload.", Repeatable: true),
            new OptionSpec("memory", "m", "MIB", "Guest memory in MiB."),
            new OptionSpec("vcpus", null, "N", "Guest vCPUs."),
            new OptionSpec("cmd", null, "COMMAND", "Override the image command (or give it after --).")],
        Run: (command, cancellationToken) => NotImplemented.Run("supermachine bake", "Snapshots"),
        AcceptsTrailingArguments: true);
}
