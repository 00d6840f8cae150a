using Supermachine.Bake;
using Supermachine.Diagnostics;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Build.Framework;
using Supermachine.Tasks.Cli;

namespace Supermachine.Tasks;

/// <summary>
/// Bakes images in the supermachine host, one process per image, all at once. The host prints
/// progress as plain lines and failures in MSBuild's canonical form, so this task only relays
/// them. Cancellation (Ctrl+C) sends SIGTERM so the host can stop its VMs and remove partial
/// output, then kills it if it does not exit in time.
/// </summary>
public sealed partial class BakeMicroVmImages : Microsoft.Build.Utilities.Task, ICancelableTask
{
    private static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(30);
    private readonly List<Process> _running = [];
    private volatile bool _cancelled;

    [Required]
    public ITaskItem[] Images { get; set; } = [];

    [Required]
    public string TasksDirectory { get; set; } = "";

    public string ProjectFile { get; set; } = "";

    public string CacheDirectory { get; set; } = "";

    public string RegistryMirrors { get; set; } = "";

    public string Accelerator { get; set; } = "";

    public string LockFile { get; set; } = "";

    public string LockMode { get; set; } = "";

    public override bool Execute()
    {
        var hosts = new List<(ITaskItem Image, Process Process)>();
        foreach (ITaskItem image in Images)
        {
            if (_cancelled)
            {
                break;
            }
            Process process = StartHost(BakeArguments(image));
            lock (_running)
            {
                _running.Add(process);
            }
            hosts.Add((image, process));
        }
        foreach (var (image, process) in hosts)
        {
            process.WaitForExit();
            FlushErrors(process);
            if (process.ExitCode != 0 && !Log.HasLoggedErrors)
            {
                SupermachineException failure = Errors.BakeHostFailed(image.ItemSpec, process.ExitCode);
                Log.LogError(null, failure.Code, null, ProjectFile, 0, 0, 0, 0, failure.Text);
            }
            process.Dispose();
        }
        return !Log.HasLoggedErrors && !_cancelled;
    }

    public void Cancel()
    {
        _cancelled = true;
        Process[] running;
        lock (_running)
        {
            running = [.. _running];
        }
        foreach (Process process in running)
        {
            try
            {
                if (!process.HasExited)
                {
                    if (OperatingSystem.IsWindows())
                    {
                        process.Kill(entireProcessTree: true);
                    }
                    else
                    {
                        _ = Kill(process.Id, SigTerm);
                    }
                }
            }
            catch (InvalidOperationException)
            {
            }
        }
        foreach (Process process in running)
        {
            try
            {
                if (!process.WaitForExit(GracePeriod))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    internal static IReadOnlyList<string> BakeArgumentsFor(ITaskItem image)
    {
        string dockerfile = image.GetMetadata("Dockerfile");
        var args = string.IsNullOrWhiteSpace(dockerfile)
            ? new List<string> { "bake", image.ItemSpec, image.GetMetadata("ArtifactDirectory") }
            : ["build", image.GetMetadata("Context"), image.GetMetadata("ArtifactDirectory"), "--file", dockerfile];
        void Add(string option, string metadata)
        {
            string value = image.GetMetadata(metadata);
            if (!string.IsNullOrWhiteSpace(value))
            {
                args.Add(option);
                args.Add(value.Trim());
            }
        }
        Add("--name", "Name");
        Add("--port", "Port");
        Add("--platform", "Platform");
        Add("--memory", "MemoryMiB");
        Add("--vcpus", "Vcpus");
        Add("--disk", "DiskMiB");
        Add("--cmd", "Command");
        Add("--entrypoint", "Entrypoint");
        Add("--user", "User");
        Add("--workdir", "WorkingDir");
        Add("--hostname", "Hostname");
        Add("--shm", "ShmMiB");
        Add("--stop-timeout", "StopTimeout");
        Add("--profile", "Profile");
        Add("--connection-string", "ConnectionString");
        Add("--target", "BuildTarget");
        Add("--network", "Network");
        AddEach("--alias", "Aliases");
        if (!string.IsNullOrWhiteSpace(dockerfile))
        {
            Add("--build-network", "BuildNetwork");
        }
        AddEach("--env", "Env");
        AddEach("--build-arg", "BuildArgs");
        AddEach("--host-port", "HostPorts");
        AddEach("--volume", "Volumes");
        AddEach("--mount", "Mounts");
        AddReadinessArguments(image, args);
        return args;

        void AddEach(string option, string metadata)
        {
            foreach (string pair in MetadataList.Split(image.GetMetadata(metadata)))
            {
                args.Add(option);
                args.Add(pair);
            }
        }
    }

    private IReadOnlyList<string> BakeArguments(ITaskItem image) => BakeArgumentsFor(image);

    private Process StartHost(IReadOnlyList<string> args)
    {
        var psi = new ProcessStartInfo(DotnetHost.Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(TasksDirectory, "Supermachine.Tasks.dll"));
        foreach (string arg in args)
        {
            psi.ArgumentList.Add(arg);
        }
        SetIfGiven(psi, "SUPERMACHINE_CACHE", CacheDirectory);
        SetIfGiven(psi, "SUPERMACHINE_REGISTRY_MIRRORS", RegistryMirrors);
        SetIfGiven(psi, "SUPERMACHINE_ACCELERATOR", Accelerator);
        SetIfGiven(psi, "SUPERMACHINE_LOCK_FILE", LockFile);
        SetIfGiven(psi, "SUPERMACHINE_LOCK_MODE", LockMode);

        Log.LogMessage(MessageImportance.Low, "supermachine {0}", string.Join(' ', args));
        var process = new Process { StartInfo = psi };
        var errors = new HostErrorRelay(this);
        process.OutputDataReceived += (_, e) => Relay(e.Data);
        process.ErrorDataReceived += (_, e) => errors.Line(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        lock (_relays)
        {
            _relays[process] = errors;
        }
        return process;
    }

    private readonly Dictionary<Process, HostErrorRelay> _relays = [];

    /// <summary>Logs what is still held of <paramref name="process"/>'s last error (call once its output has ended).</summary>
    private void FlushErrors(Process process)
    {
        lock (_relays)
        {
            if (_relays.Remove(process, out HostErrorRelay? relay))
            {
                relay.Flush();
            }
        }
    }

    /// <summary>An error the host reported, whole (code and all its lines).</summary>
    internal void LogHostError(string code, string text) => Log.LogError(null, code, null, ProjectFile, 0, 0, 0, 0, text);

    internal void Relay(string? line)
    {
        if (string.IsNullOrEmpty(line))
        {
            return;
        }
        // Canonical "supermachine : error SM####: ..." lines become errors; the rest are progress,
        // shown at the default (minimal) verbosity: a first bake takes minutes under emulation, and
        // the host prints a few phase lines and one summary per image, never the workload's log.
        Log.LogMessageFromText(line, line.StartsWith(HostOutput.DetailPrefix, StringComparison.Ordinal) ? MessageImportance.Low : MessageImportance.High);
    }

    private static void SetIfGiven(ProcessStartInfo psi, string name, string value)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            psi.Environment[name] = value;
        }
    }

    private const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
