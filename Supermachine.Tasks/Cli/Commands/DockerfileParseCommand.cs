using Supermachine.Dockerfile.Parsing;

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
        Run: (command, cancellationToken) => Task.FromResult(Run(command.Arguments[0], Console.Out)));

    /// <summary>Prints the dump followed by a newline, exactly as BuildKit's dumper does.</summary>
    public static int Run(string path, TextWriter stdout)
    {
        DockerfileSyntax syntax = DockerfileParser.ParseFile(path);
        stdout.Write(syntax.Dump());
        stdout.Write('\n');
        return Program.Success;
    }
}
