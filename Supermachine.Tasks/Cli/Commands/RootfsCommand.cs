namespace Supermachine.Tasks.Cli.Commands;

internal static class RootfsCommand
{
    public static readonly CommandSpec Spec = new(
        "rootfs",
        "IMAGE DIR",
        "Pull IMAGE and write its flattened root filesystem to DIR.",
        MinArguments: 2,
        MaxArguments: 2,
        Options: [],
        Run: (command, cancellationToken) => NotImplemented.Run("supermachine rootfs", "OCI images"));
}
