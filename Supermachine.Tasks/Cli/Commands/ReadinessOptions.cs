namespace Supermachine.Tasks.Cli.Commands;

/// <summary>
/// The readiness, warmup, files-in and kernel-argument options of every verb that bakes or cold-starts
/// an IMAGE (bake, build, run; exec takes them after its own), mapped to the same metadata an
/// MSBuild item has so both are checked alike.
/// </summary>
internal static class ReadinessOptions
{
    /// <summary>
    /// The option that puts a host file into the guest: --file, except on build, where -f/--file is
    /// the Dockerfile (as in docker build), so there it is --add-file.
    /// </summary>
    public static string FileOption(bool build) => build ? "add-file" : "file";

    public static OptionSpec[] Options(bool build) =>
    [
        new OptionSpec("wait-log", null, "REGEX", "Ready when a workload log line matches REGEX (see --wait-log-times)."),
        new OptionSpec("wait-log-times", null, "N", "Ready at the Nth line matching --wait-log (default 1)."),
        new OptionSpec("wait-http", null, "PORT/PATH", "Ready when GET http://127.0.0.1:PORT/PATH in the guest answers 2xx."),
        new OptionSpec("wait-cmd", null, "COMMAND", "Ready when COMMAND (sh -c, in the guest) exits 0."),
        new OptionSpec("warmup", null, "COMMAND", "Run COMMAND (sh -c, in the guest) once ready, before the snapshot."),
        new OptionSpec("warmup-tag", null, "TAG", "Label of the warmup's state; a new tag re-bakes."),
        new OptionSpec(FileOption(build), null, "HOST:GUEST[:MODE[:OWNER]]", "Put a host file into the guest before the workload starts.", Repeatable: true),
        new OptionSpec("kernel-args", null, "ARGS", "Extra guest kernel command-line arguments."),
    ];

    /// <summary>Adds the options given to <paramref name="metadata"/> under their MSBuild metadata names.</summary>
    public static void AddMetadata(ParsedCommand command, IDictionary<string, string?> metadata, bool build)
    {
        metadata["WaitForLog"] = command.Value("wait-log");
        metadata["WaitForLogTimes"] = command.Value("wait-log-times");
        metadata["WaitForHttp"] = command.Value("wait-http");
        metadata["WaitForCommand"] = command.Value("wait-cmd");
        metadata["Warmup"] = command.Value("warmup");
        metadata["WarmupTag"] = command.Value("warmup-tag");
        metadata["Files"] = string.Join(';', command.Values(FileOption(build)));
        metadata["KernelArgs"] = command.Value("kernel-args");
    }
}
