namespace Supermachine.Tasks.Cli.Commands;

internal static class CacheKeyCommand
{
    public static readonly CommandSpec Spec = new(
        "cache-key",
        "PROJECT",
        "Print the stable CI cache key of a project's MicroVmImage bakes (no network).",
        MinArguments: 1,
        MaxArguments: 1,
        Options: [],
        Run: (command, cancellationToken) => NotImplemented.Run("supermachine cache-key", "The SDK end to end"));
}
