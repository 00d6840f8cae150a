namespace Supermachine.Tasks.Cli.Commands;

/// <summary>Every verb of the command line, in the order help lists them. Each verb's handler lives in its own file.</summary>
internal static class CommandTable
{
    public static readonly IReadOnlyList<CommandSpec> All =
    [
        RootfsCommand.Spec,
        SquashfsCommand.Spec,
        BakeCommand.Spec,
        ExecCommand.Spec,
        RunCommand.Spec,
        BuildCommand.Spec,
        DockerfileParseCommand.Spec,
        CacheKeyCommand.Spec,
    ];
}
