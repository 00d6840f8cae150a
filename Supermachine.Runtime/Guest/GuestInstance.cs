using Supermachine.Diagnostics;
using Supermachine.Guest.Readiness;
using Supermachine.Guest.Staging;
using Supermachine.Vmm;

namespace Supermachine.Guest;

/// <summary>
/// A running guest and the agent connection to it: the one place that turns "start the engine"
/// plus "say hello to the agent" into a usable guest, for cold boots and restores alike. Both the
/// bake and the public API stand on it.
/// </summary>
internal sealed class GuestInstance : IAsyncDisposable
{
    private GuestInstance(IVirtualMachine machine, AgentConnection agent)
    {
        Machine = machine;
        Agent = agent;
    }

    public IVirtualMachine Machine { get; }

    public AgentConnection Agent { get; }

    public static async Task<GuestInstance> BootAsync(IVmBackend backend, VmMachineSpec spec, TimeSpan helloTimeout, CancellationToken cancellationToken)
    {
        IVirtualMachine machine = await backend.StartAsync(spec, cancellationToken).ConfigureAwait(false);
        return await ConnectAsync(machine, "the agent's hello after boot", helloTimeout, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<GuestInstance> RestoreAsync(IVmBackend backend, VmMachineSpec spec, string snapshotDirectory, TimeSpan helloTimeout, CancellationToken cancellationToken)
    {
        IVirtualMachine machine = await backend.RestoreAsync(spec, snapshotDirectory, cancellationToken).ConfigureAwait(false);
        return await ConnectAsync(machine, "the agent's hello after restore", helloTimeout, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<GuestInstance> ConnectAsync(IVirtualMachine machine, string waitingFor, TimeSpan helloTimeout, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            Stream channel = await machine.ConnectAgentAsync(cancellationToken).ConfigureAwait(false);
            AgentConnection agent = await AgentConnection.ConnectAsync(channel, new AgentConnectionOptions { HelloTimeout = helloTimeout }, cancellationToken).ConfigureAwait(false);
            return new GuestInstance(machine, agent);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The console says more than a missing hello: a panic, an engine exit or a plain timeout.
            SupermachineException diagnosis = machine.DiagnoseFailure(waitingFor, clock.Elapsed);
            await machine.DisposeAsync().ConfigureAwait(false);
            throw new SupermachineException(diagnosis.Code, diagnosis.Text, e);
        }
        catch
        {
            await machine.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Brings the workload up (the bake and a cold start alike): puts its files in, starts it, waits
    /// until it is ready by every condition of its readiness (<see cref="WorkloadReadiness"/>), then
    /// runs its warmup. A workload that exits or never gets ready is SM3256 with its log; a failing
    /// warmup is SM3090 with its output. <paramref name="notice"/> hears early hints (a wrong port).
    /// </summary>
    public async Task StartWorkloadAsync(string name, WorkloadStart start, TimeSpan readyTimeout, Action<string>? notice, CancellationToken cancellationToken)
    {
        await Storage.GuestStorage.MountAsync(Agent, start.Mounts, cancellationToken).ConfigureAwait(false);
        await GuestFiles.WriteAsync(Agent, start.Files, cancellationToken).ConfigureAwait(false);
        await Agent.StartWorkloadAsync(start.Workload, cancellationToken).ConfigureAwait(false);
        await WorkloadReadiness.WaitAsync(Agent, name, start.Workload.Arguments.Count > 0, start.Readiness, readyTimeout,
            () => DescribeWorkloadAsync(CancellationToken.None), notice, cancellationToken).ConfigureAwait(false);
        if (start.Warmup is string warmup)
        {
            notice?.Invoke("ready; warming up");
            await Warmup.RunAsync(Agent, name, warmup, readyTimeout, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Tails of the workload log and the console, for errors about the workload.</summary>
    public async Task<string> DescribeWorkloadAsync(CancellationToken cancellationToken)
    {
        try
        {
            WorkloadLog log = await Agent.GetWorkloadLogAsync(cancellationToken).ConfigureAwait(false);
            string state = log.Running ? "still running" : log.Exited ? $"exited with code {log.ExitCode}" : log.Signal is int s ? $"killed by signal {s}" : "not running";
            string text = log.Text.TrimEnd();
            return text.Length == 0
                ? $"The workload is {state}. Its log is empty."
                : $"The workload is {state}. Its log ends with:\n{(text.Length > 4000 ? text[^4000..] : text)}";
        }
        catch (Exception e) when (e is SupermachineException or IOException or TimeoutException)
        {
            return "The workload log could not be read. The console ends with:\n" + Machine.ReadConsoleTail(4000);
        }
    }

    /// <summary>
    /// Stops the guest as `docker stop` does: the workload gets <paramref name="signal"/> (the image's
    /// STOPSIGNAL), up to <paramref name="grace"/> to exit, and then the VM is killed. Returns the
    /// workload's log and state as last seen (null when the agent no longer answered).
    /// </summary>
    /// <remarks>
    /// With <paramref name="flushDisks"/> the agent then powers the guest off itself, after a sync,
    /// so what the guest wrote to disks that outlive the VM (named volumes) reaches them.
    /// </remarks>
    public async Task<WorkloadLog?> StopAsync(int signal, TimeSpan grace, CancellationToken cancellationToken = default, bool flushDisks = false)
    {
        WorkloadLog? last = null;
        // A guest that hangs must not hold the stop beyond its grace: the agent gets a little more to answer, then it is killed.
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(grace + StopAnswerAllowance);
        try
        {
            last = grace > TimeSpan.Zero ? await Agent.GetWorkloadLogAsync(bounded.Token).ConfigureAwait(false) : null;
            if (last is { Running: true })
            {
                await Agent.SignalWorkloadAsync(signal, bounded.Token).ConfigureAwait(false);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                // Short polls first: most workloads exit within a few hundred milliseconds of the signal.
                for (int delayMs = 20; last.Running && clock.Elapsed < grace; delayMs = Math.Min(delayMs * 2, 500))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(delayMs, Math.Max(1, (grace - clock.Elapsed).TotalMilliseconds))), bounded.Token).ConfigureAwait(false);
                    last = await Agent.GetWorkloadLogAsync(bounded.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is SupermachineException or IOException or TimeoutException or ObjectDisposedException
                                  || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // A guest that no longer answers is killed like one that outlived its grace.
        }
        finally
        {
            if (flushDisks)
            {
                await PowerOffAsync(cancellationToken).ConfigureAwait(false);
            }
            await DisposeAsync().ConfigureAwait(false);
        }
        return last;
    }

    /// <summary>The agent's SHUTDOWN with no grace (kill, sync, power off), waited for a bounded time.</summary>
    private async Task PowerOffAsync(CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await Agent.ShutdownAsync(TimeSpan.Zero, bounded.Token).ConfigureAwait(false);
            await Machine.WaitForExitAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SupermachineException or IOException or TimeoutException or ObjectDisposedException or OperationCanceledException)
        {
            // What was not flushed by now is lost with the guest, as on a power cut.
        }
    }

    private static readonly TimeSpan StopAnswerAllowance = TimeSpan.FromSeconds(3);

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync().ConfigureAwait(false);
        // Nothing in a test or app guest needs a clean power-off: the root filesystem is read-only and
        // the upper layer is RAM. Stopping at once keeps disposal fast and leaves no process behind.
        await Machine.StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        await Machine.DisposeAsync().ConfigureAwait(false);
    }
}
