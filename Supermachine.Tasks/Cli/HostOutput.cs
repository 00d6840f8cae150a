namespace Supermachine.Tasks.Cli;

/// <summary>
/// How the host's output reads when MSBuild relays it: plain lines are progress shown at normal
/// verbosity; lines starting with <see cref="DetailPrefix"/> are details shown at -v:detailed.
/// </summary>
internal static class HostOutput
{
    public const string DetailPrefix = "  detail: ";

    public static void Progress(string message) => Console.Error.WriteLine(message);

    public static void Detail(string message) => Console.Error.WriteLine(DetailPrefix + message);

    /// <summary>Set by --verbose: exec and run then show how the VM started; without it they print only the workload's output and real problems.</summary>
    public static bool Verbose { get; set; }

    /// <summary>A detail line only under --verbose (exec and run, whose output is the workload's).</summary>
    public static void VerboseDetail(string message)
    {
        if (Verbose)
        {
            Detail(message);
        }
    }

    /// <summary>Marks the second and later lines of a multi-line error (a workload's log tail), which MSBuild would otherwise show apart from it, or not at all.</summary>
    public const string ContinuationPrefix = "supermachine :   | ";

    /// <summary>A coded error in MSBuild's canonical form, its further lines marked as its continuation.</summary>
    public static void Error(TextWriter stderr, string codedMessage)
    {
        string[] lines = codedMessage.ReplaceLineEndings("\n").Split('\n');
        stderr.WriteLine("supermachine : error " + lines[0]);
        foreach (string line in lines.Skip(1))
        {
            stderr.WriteLine(ContinuationPrefix + line);
        }
    }

    /// <summary>A coded warning ("SM4001: ...") in MSBuild's canonical form, so the SDK shows it as a warning.</summary>
    public static void Warning(string codedMessage) => Console.Error.WriteLine("supermachine : warning " + codedMessage);
}
