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

    /// <summary>A coded warning ("SM4001: ...") in MSBuild's canonical form, so the SDK shows it as a warning.</summary>
    public static void Warning(string codedMessage) => Console.Error.WriteLine("supermachine : warning " + codedMessage);
}
