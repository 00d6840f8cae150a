using Supermachine.Diagnostics;

namespace Supermachine.Tasks.Cli.Commands;

internal static class NotImplemented
{
    /// <summary>A verb whose issue has not landed: a clear SM9001 and a non-zero exit, never a silent no-op.</summary>
    public static Task<int> Run(string verb, string issue) => throw Diagnostic.Error("SM9001", verb, issue);
}
