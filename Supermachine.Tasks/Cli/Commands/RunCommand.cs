using System.Globalization;
using System.Net;

namespace Supermachine.Tasks.Cli.Commands;

internal static class RunCommand
{
    public static readonly CommandSpec Spec = new(
        "run",
        "SNAPSHOT_DIR|IMAGE",
        "Start SNAPSHOT_DIR (restoring its snapshot) or IMAGE and serve until Ctrl+C.",
        MinArguments: 1,
        MaxArguments: 1,
        Options: [
            new OptionSpec("publish", "p", "HOST:GUEST", "Forward host 127.0.0.1:HOST to guest port GUEST (GUEST alone: any free host port).", Repeatable: true),
            new OptionSpec("port", null, "PORT", "For IMAGE: guest port to wait for before serving."),
            new OptionSpec("env", "e", "K=V", "For IMAGE: environment variable for the workload.", Repeatable: true),
            BakeCommand.NetworkOption,
            BakeCommand.PlatformOption,
            BakeCommand.AliasOption,
            BakeCommand.HostPortOption,
            BakeCommand.RunVolumeOption,
            BakeCommand.VolumeDirectoryOption,
            new OptionSpec("disk", null, "MIB", "For IMAGE: size of the guest's writable disk in MiB, sparse (default 8192)."),
            .. ReadinessOptions.Options(build: false),
            .. BakeCommand.WorkloadOptions],
        Run: RunAsync);

    private static async Task<int> RunAsync(ParsedCommand command, CancellationToken cancellationToken)
    {
        var published = new List<(int Host, int Guest)>();
        foreach (string mapping in command.Values("publish"))
        {
            // As docker run -p: HOST:GUEST, or GUEST alone for any free host port.
            string[] parts = mapping.Split(':');
            ushort host = 0;
            if (parts.Length is not (1 or 2)
                || parts.Length == 2 && !ushort.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out host)
                || !ushort.TryParse(parts[^1], NumberStyles.None, CultureInfo.InvariantCulture, out ushort guest) || guest == 0)
            {
                throw new UsageException($"--publish takes HOST:GUEST (or GUEST) with ports from 1 to 65535 (HOST 0 for any free port), not '{mapping}'", Spec);
            }
            published.Add((host, guest));
        }

        var (vm, temporary) = await ImageStarter.StartAsync(command, command.Arguments[0], cancellationToken).ConfigureAwait(false);
        try
        {
            await using (vm)
            {
                foreach (var (host, guest) in published)
                {
                    IPEndPoint endpoint = vm.Publish(guest, host);
                    // A port the system chose is the one thing the user cannot know otherwise.
                    if (host == 0)
                    {
                        Console.WriteLine($"{endpoint} -> guest port {guest}");
                    }
                    else
                    {
                        HostOutput.VerboseDetail($"{endpoint} -> guest port {guest}");
                    }
                }
                HostOutput.VerboseDetail($"{vm.Image.Name} is {(vm.Restored ? "restored" : "running")} ({vm.StartDuration.TotalMilliseconds:F0} ms); Ctrl+C stops it.");
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                // As docker stop: the image's STOPSIGNAL, its StopTimeout, then kill.
                WorkloadLog? last = await vm.StopAsync(CancellationToken.None).ConfigureAwait(false);
                HostOutput.VerboseDetail(last is null ? "stopped" : last.Running ? "stopped (the workload outlived its stop timeout and was killed)" : "stopped (the workload exited)");
                return Program.Success;
            }
        }
        finally
        {
            ImageStarter.Cleanup(temporary);
        }
    }
}
