namespace Supermachine.Tasks.Cli.Commands;

internal static class BuildCommand
{
    public static readonly CommandSpec Spec = new(
        "build",
        "CONTEXT SNAPSHOT_DIR",
        "Build a Dockerfile inside a microVM and bake the result into SNAPSHOT_DIR.",
        MinArguments: 2,
        MaxArguments: 2,
        Options: [
            new OptionSpec("file", "f", "DOCKERFILE", "Dockerfile path (default CONTEXT/Dockerfile)."),
            new OptionSpec("build-arg", null, "K=V", "Build argument.", Repeatable: true),
            new OptionSpec("target", null, "STAGE", "Stage to build.")],
        Run: (command, cancellationToken) => NotImplemented.Run("supermachine build", "Dockerfiles"));
}
