namespace Supermachine.Tasks.Cli.Commands;

internal static class DockerfileParseCommand
{
    public static readonly CommandSpec Spec = new(
        "dockerfile parse",
        "FILE",
        "Print the BuildKit-style AST dump of a Dockerfile.",
        MinArguments: 1,
        MaxArguments: 1,
        Options: [],
        Run: (command, cancellationToken) => NotImplemented.Run("supermachine dockerfile parse", "Dockerfiles"));
}
