using System.Reflection;
using Supermachine.Diagnostics;
using Supermachine.Tasks.Cli.Commands;

namespace Supermachine.Tasks.Cli;

/// <summary>
/// The <c>supermachine</c> command line. Exit codes: 0 success, 1 a coded failure (SM####),
/// 2 bad usage, 130 cancelled by Ctrl+C. Errors go to stderr in MSBuild's canonical form
/// ("supermachine : error SM####: ...") so the tasks can surface them unchanged.
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

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        Invocation invocation;
        try
        {
            invocation = CommandLineParser.Parse(args, CommandTable.All);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"supermachine : error SM9003: {e.Message}.");
            stderr.WriteLine(e.Command is null ? "Run 'supermachine --help' to see the commands." : $"Usage: {e.Command.Usage}");
            return UsageError;
        }

        switch (invocation)
        {
            case Invocation.Version:
                stdout.WriteLine(Version);
                return Success;
            case Invocation.Help help:
                HelpWriter.Write(stdout, help.Command, CommandTable.All);
                return Success;
        }

        var run = (Invocation.Run)invocation;
        try
        {
            return await run.Command.Spec.Run(run.Command, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            stderr.WriteLine($"supermachine : error SM9004: {Diagnostic.Message("SM9004")}");
            return Cancelled;
        }
        catch (SupermachineException e)
        {
            stderr.WriteLine($"supermachine : error {e.Message}");
            if (Environment.GetEnvironmentVariable("SUPERMACHINE_DEBUG") == "1")
            {
                stderr.WriteLine(e);
            }
            return Failure;
        }
    }

    public static string Version { get; } =
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(Program).Assembly.GetName().Version?.ToString()
        ?? "0.0.0";
}
