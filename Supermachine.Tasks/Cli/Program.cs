using System.Reflection;
using Supermachine.Diagnostics;
using Supermachine.Tasks.Cli.Commands;

namespace Supermachine.Tasks.Cli;

/// <summary>
/// The <c>supermachine</c> command line. Exit codes: 0 success, 1 a coded failure (SM####),
/// 2 bad usage, 130 cancelled by Ctrl+C. Errors go to stderr in MSBuild's canonical form
/// ("supermachine : error SM####: ...") so the tasks can surface them unchanged. Nothing ends in a
/// raw stack trace: an unexpected exception is SM9010 with its one-line cause, and <c>--verbose</c>
/// (anywhere before "--") or SUPERMACHINE_DEBUG=1 adds the trace.
/// </summary>
internal static class Program
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int UsageError = 2;
    public const int Cancelled = 130;

    public static async Task<int> Main(string[] args)
    {
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // The first Ctrl+C asks for a clean stop (VMs down, temp files gone); a second one is the OS's.
            e.Cancel = !cancellation.IsCancellationRequested;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        // A fault on a background thread still ends the process, but with a coded line first.
        AppDomain.CurrentDomain.UnhandledException += (_, e) => Console.Error.WriteLine(
            $"supermachine : error {Errors.UnexpectedFailure(args.FirstOrDefault() ?? "", e.ExceptionObject.GetType().Name, (e.ExceptionObject as Exception)?.Message.ReplaceLineEndings(" ") ?? "").Message}");
        // SIGTERM is how the MSBuild task asks for the same clean stop when the build is cancelled.
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM,
            context =>
            {
                context.Cancel = true;
                cancellation.Cancel();
            });
        try
        {
            return await RunAsync(args, Console.Out, Console.Error, cancellation.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    public static Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken) =>
        RunAsync(args, CommandTable.All, stdout, stderr, cancellationToken);

    public static async Task<int> RunAsync(IReadOnlyList<string> args, IReadOnlyList<CommandSpec> commands, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        bool verbose = TakeVerboseFlag(ref args) || Environment.GetEnvironmentVariable("SUPERMACHINE_DEBUG") == "1";
        HostOutput.Verbose = verbose;
        Invocation invocation;
        try
        {
            invocation = CommandLineParser.Parse(args, commands);
        }
        catch (UsageException e)
        {
            return ReportUsage(e, stderr);
        }

        switch (invocation)
        {
            case Invocation.Version:
                stdout.WriteLine(Version);
                return Success;
            case Invocation.Help help:
                HelpWriter.Write(stdout, help.Command, commands);
                return Success;
        }

        var run = (Invocation.Run)invocation;
        try
        {
            return await run.Command.Spec.Run(run.Command, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            stderr.WriteLine($"supermachine : error {Errors.Cancelled().Message}");
            return Cancelled;
        }
        catch (UsageException e)
        {
            // A handler that checks its own arguments (ports, pairs, the argv after "--") before any work.
            return ReportUsage(e, stderr);
        }
        catch (SupermachineException e)
        {
            HostOutput.Error(stderr, e.Message);
            if (verbose)
            {
                stderr.WriteLine(e);
            }
            return Failure;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Anything else is our bug, not the user's: one coded line, the trace only on request.
            string cause = e.Message.ReplaceLineEndings(" ").Trim();
            stderr.WriteLine($"supermachine : error {Errors.UnexpectedFailure(run.Command.Spec.Name, e.GetType().Name, cause).Message}");
            if (verbose)
            {
                stderr.WriteLine(e);
            }
            return Failure;
        }
    }

    private static int ReportUsage(UsageException e, TextWriter stderr)
    {
        stderr.WriteLine($"supermachine : error {Errors.Usage(e.Message).Message}");
        stderr.WriteLine(e.Command is null ? "Run 'supermachine --help' to see the commands." : $"Usage: {e.Command.Usage}");
        return UsageError;
    }

    /// <summary>
    /// Removes a global <c>--verbose</c> given before any "--" (after it, words belong to the guest's argv).
    /// </summary>
    private static bool TakeVerboseFlag(ref IReadOnlyList<string> args)
    {
        int separator = args.ToList().IndexOf("--");
        int end = separator < 0 ? args.Count : separator;
        var kept = new List<string>(args.Count);
        bool found = false;
        for (int i = 0; i < args.Count; i++)
        {
            if (i < end && args[i] == "--verbose")
            {
                found = true;
                continue;
            }
            kept.Add(args[i]);
        }
        args = kept;
        return found;
    }

    public static string Version { get; } =
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(Program).Assembly.GetName().Version?.ToString()
        ?? "0.0.0";
}
