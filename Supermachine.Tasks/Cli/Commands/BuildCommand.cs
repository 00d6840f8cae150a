namespace Supermachine.Tasks.Cli.Commands;

internal static class BuildCommand
{
    public static readonly CommandSpec Spec = new(
        "build",
        "CONTEXT SNAPSHOT_DIR",
        "Build a Dockerfile inside microVMs, commit the result to a squashfs, and bake it into SNAPSHOT_DIR.",
        MinArguments: 2,
        MaxArguments: 2,
        Options: [
            new OptionSpec("file", "f", "DOCKERFILE", "Dockerfile path (default CONTEXT/Dockerfile)."),
            new OptionSpec("build-arg", null, "K=V", "Build argument.", Repeatable: true),
            new OptionSpec("target", null, "STAGE", "Stage to build."),
            new OptionSpec("build-network", null, "none", "Network of RUN steps alone: 'none' for none (default: as --network)."),
            .. BakeCommand.Options("CONTEXT"),
            .. ReadinessOptions.Options(build: true)],
        Run: (command, cancellationToken) => BakeCommand.BakeAsync(command, ImageRequests.FromCommandLine(command, BuildContextName(command.Arguments[0]), command.Arguments[0]), cancellationToken),
        AcceptsTrailingArguments: true);

    // The image is named after its context directory unless --name says otherwise.
    private static string BuildContextName(string context) =>
        Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(context))) is { Length: > 0 } name ? name.ToLowerInvariant() : "image";
}
