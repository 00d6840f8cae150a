using System.Text;
using Supermachine.Dockerfile.Planning;
using Supermachine.Guest;
using Supermachine.Vmm;

namespace Supermachine.Dockerfile.Building;

/// <summary>A RAM snapshot's size: the disk blocks it occupies (its RAM file is sparse) and its files' lengths (a full RAM dump).</summary>
internal sealed record SnapshotSize(long AllocatedBytes, long ApparentBytes);

/// <summary>What a RUN did: how it ended and the last of its output (for the error when it failed).</summary>
internal sealed record RunOutcome(ExecExit Exit, string OutputTail);

/// <summary>
/// The microVM a stage's RUN steps execute in: booted on the squashfs of the build state with a
/// tmpfs upper layer, so everything the commands change is in that upper layer, which the agent
/// exports as an OCI layer. The VM lives across consecutive RUNs of a stage.
/// </summary>
internal sealed class BuildVm : IAsyncDisposable
{
    private const int OutputTailChars = 4000;
    private readonly GuestInstance _guest;

    private BuildVm(GuestInstance guest, LayerChain bootChain)
    {
        _guest = guest;
        BootChain = bootChain;
    }

    /// <summary>The state the VM booted on: its exported changes are a layer on top of this.</summary>
    public LayerChain BootChain { get; }

    public static async Task<BuildVm> BootAsync(IVmBackend backend, VmMachineSpec spec, LayerChain bootChain, TimeSpan bootTimeout, CancellationToken cancellationToken)
    {
        GuestInstance guest = await GuestInstance.BootAsync(backend, spec, bootTimeout, cancellationToken).ConfigureAwait(false);
        return new BuildVm(guest, bootChain);
    }

    /// <summary>Runs a RUN step's command as the step says (env, user, working directory), streaming its output lines.</summary>
    public async Task<RunOutcome> RunAsync(RunStep step, Action<string> outputLine, CancellationToken cancellationToken)
    {
        // Heredoc scripts go to /dev (devtmpfs, outside the overlay): they are never committed.
        foreach (RunScriptFile script in step.ScriptFiles)
        {
            await _guest.Agent.WriteFileAsync(script.Path, Encoding.UTF8.GetBytes(script.Content), script.Mode, cancellationToken).ConfigureAwait(false);
        }
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string entry in step.Env)
        {
            int eq = entry.IndexOf('=');
            environment[eq < 0 ? entry : entry[..eq]] = eq < 0 ? "" : entry[(eq + 1)..];
        }
        var request = new ExecRequest(step.Argv)
        {
            Environment = environment,
            ReplaceEnvironment = true,
            WorkingDirectory = step.WorkingDir,
            User = step.User.Length == 0 ? "0" : step.User,
        };
        await using AgentProcess process = await _guest.Agent.StartExecAsync(request, cancellationToken).ConfigureAwait(false);
        await process.StandardInput.DisposeAsync().ConfigureAwait(false);
        var tail = new StringBuilder();
        var gate = new object();
        async Task PumpAsync(Stream stream)
        {
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                lock (gate)
                {
                    outputLine(line);
                    tail.Append(line).Append('\n');
                    if (tail.Length > 2 * OutputTailChars)
                    {
                        tail.Remove(0, tail.Length - OutputTailChars);
                    }
                }
            }
        }
        await Task.WhenAll(PumpAsync(process.StandardOutput), PumpAsync(process.StandardError)).ConfigureAwait(false);
        ExecExit exit = await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        string text = tail.ToString();
        return new RunOutcome(exit, text.Length > OutputTailChars ? text[^OutputTailChars..] : text);
    }

    /// <summary>Everything changed since boot, as an OCI layer tar (whiteouts for deletions).</summary>
    public Task ExportChangesAsync(Stream destination, CancellationToken cancellationToken) =>
        _guest.Agent.ExportChangesAsync(destination, cancellationToken);

    /// <summary>Saves the VM's RAM snapshot into <paramref name="directory"/> and measures it.</summary>
    public async Task<SnapshotSize> MeasureSnapshotAsync(string directory, CancellationToken cancellationToken)
    {
        await _guest.Machine.SaveSnapshotAsync(directory, cancellationToken).ConfigureAwait(false);
        string[] files = Directory.GetFiles(directory, "*", SearchOption.AllDirectories);
        return new SnapshotSize(files.Sum(FileSystem.DirectoryTreeReader.AllocatedBytes), files.Sum(f => new FileInfo(f).Length));
    }

    public ValueTask DisposeAsync() => _guest.DisposeAsync();
}
