using System.Text;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Parsing;
using Supermachine.Dockerfile.Planning;

namespace Supermachine.Fuzz.Targets;

/// <summary>
/// Dockerfile bytes through the syntax parser, its dump, the instruction parser and the build
/// planner (which expands ARG/ENV with the shell lexer). eng/fuzz.sh adds the conformance
/// Dockerfiles as seeds.
/// </summary>
internal sealed class DockerfileTarget : IFuzzTarget
{
    public string Name => "dockerfile";

    public void Run(byte[] input)
    {
        DockerfileSyntax syntax = DockerfileParser.Parse(input);
        _ = syntax.Dump();
        DockerfileInstructions instructions = InstructionParser.Parse(syntax);
        BuildPlanner.PlanAsync(instructions, new BuildOptions { Platform = "linux/amd64" }).AsTask().GetAwaiter().GetResult();
    }

    public IEnumerable<(string Name, byte[] Content)> Seeds()
    {
        yield return ("emoji", Encoding.UTF8.GetBytes("# build 🚀\nFROM alpine🚀 AS a\nLABEL k=🚀\nRUN echo 🚀\n"));
        yield return ("expansion", Encoding.UTF8.GetBytes(
            "ARG V=1\nFROM base:${V:-2}\nARG V\nENV A=${V#1} B=${V%%x*} C=${V/1/2}\nWORKDIR /w/$A\nCOPY --chown=${A}:0 [\"a b\", \"/c\"]\nUSER ${B:+u}\n"));
        yield return ("heredoc", Encoding.UTF8.GetBytes("# escape=`\nFROM a\nRUN <<EOF cat <<-'E2'\nx\nEOF\n\ty\nE2\nCOPY <<f /f\nhi\nf\n"));
        yield return ("stages", Encoding.UTF8.GetBytes(
            "FROM a AS b\nRUN --mount=type=cache,target=/c,id=x,sharing=locked true\nHEALTHCHECK --interval=5s CMD [\"true\"]\nFROM b\nCOPY --from=b /a /b\nONBUILD RUN x\nEXPOSE 80/tcp\nSTOPSIGNAL SIGTERM\n"));
    }
}
