namespace Supermachine.Dockerfile.Parsing;

/// <summary>
/// A syntax problem found inside the parser, before the line it belongs to is known. The parser
/// turns it into an SM2202 <see cref="SupermachineException"/> naming the file and line.
/// </summary>
internal sealed class DockerfileSyntaxException : Exception
{
    public DockerfileSyntaxException(string message)
        : base(message)
    {
    }
}
