using System.Diagnostics;
using Supermachine.Diagnostics;

namespace Supermachine.Guest.Readiness;

/// <summary>
/// Waits until a started workload is ready by every condition of a <see cref="ReadinessSpec"/>:
/// the one place the bake and a cold start decide "ready". It polls the guest through the agent
/// (the workload log, /proc/net/tcp, commands, port forwards), so it needs nothing in the image
/// beyond what a condition itself runs. A workload that exits fails at once, a port that never
/// listens while others do fails early, and every failure names the condition that did not hold.
/// </summary>
internal static class WorkloadReadiness
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>How long the other listening ports must stay the same before the waiter says so.</summary>
    internal static readonly TimeSpan OtherPortsNotice = TimeSpan.FromSeconds(5);

    /// <summary>How long they must stay the same, with the port still closed, before the wait fails.</summary>
    internal static readonly TimeSpan OtherPortsFailure = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Polls until every condition holds, the workload exits (when it has a process), or
    /// <paramref name="timeout"/> passes; the last two are SM3256 with <paramref name="describe"/>'s log tail.
    /// </summary>
    public static async Task WaitAsync(AgentConnection agent, string name, bool hasProcess, ReadinessSpec spec, TimeSpan timeout,
        Func<Task<string>> describe, Action<string>? notice, CancellationToken cancellationToken)
    {
        List<ReadinessCondition> conditions = Conditions(spec, notice);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            WorkloadLog log = await agent.GetWorkloadLogAsync(cancellationToken).ConfigureAwait(false);
            ReadinessCondition? unmet = null;
            foreach (ReadinessCondition condition in conditions)
            {
                if (!condition.Met)
                {
                    string? failure = await condition.CheckAsync(agent, log, clock.Elapsed, cancellationToken).ConfigureAwait(false);
                    if (failure is not null)
                    {
                        throw Errors.WorkloadNotReady(name, failure, await describe().ConfigureAwait(false));
                    }
                }
                unmet ??= condition.Met ? null : condition;
            }
            if (unmet is null)
            {
                if (hasProcess && !log.Running && !log.Truncated)
                {
                    throw Errors.WorkloadNotReady(name, "it is not running.", await describe().ConfigureAwait(false));
                }
                return;
            }
            if (hasProcess && !log.Running && !log.Truncated)
            {
                throw Errors.WorkloadNotReady(name, $"it exited before {unmet.Describe()} ({unmet.Status}).", await describe().ConfigureAwait(false));
            }
            if (clock.Elapsed > timeout)
            {
                throw Errors.WorkloadNotReady(name, unmet.TimedOut(timeout), await describe().ConfigureAwait(false));
            }
            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    private static List<ReadinessCondition> Conditions(ReadinessSpec spec, Action<string>? notice)
    {
        var conditions = new List<ReadinessCondition>();
        if (spec.Port is int port)
        {
            conditions.Add(new PortCondition(port, notice));
        }
        if (spec.LogPattern is string pattern)
        {
            conditions.Add(new LogCondition(pattern, spec.LogTimes));
        }
        if (spec.Http is HttpProbe http)
        {
            conditions.Add(new HttpCondition(http));
        }
        if (spec.Command is string command)
        {
            conditions.Add(new CommandCondition(command));
        }
        // The image's own check stands in only when the user gave none.
        if (conditions.Count == 0 && spec.Healthcheck is { Argv: not null } healthcheck)
        {
            conditions.Add(new HealthcheckCondition(healthcheck));
        }
        return conditions;
    }
}

/// <summary>One condition of a readiness wait: checked each poll until it holds, then no more.</summary>
internal abstract class ReadinessCondition
{
    public bool Met { get; protected set; }

    /// <summary>What was seen last, for a failure message.</summary>
    public string Status { get; protected set; } = "not checked yet";

    /// <summary>The condition as a failure names it, e.g. "port 6379 listening".</summary>
    public abstract string Describe();

    private TimeSpan _next;

    /// <summary>True at most once per <paramref name="period"/>: probes that run something in the guest are not run at every poll.</summary>
    protected bool Due(TimeSpan elapsed, TimeSpan period)
    {
        if (elapsed < _next)
        {
            return false;
        }
        _next = elapsed + period;
        return true;
    }

    /// <summary>The failure when the wait ran out.</summary>
    public virtual string TimedOut(TimeSpan timeout) => $"{Describe()} did not hold within {timeout.TotalSeconds:F0} s ({Status}).";

    /// <summary>Checks once; returns a reason to fail at once (before the timeout), else null.</summary>
    public abstract Task<string?> CheckAsync(AgentConnection agent, WorkloadLog log, TimeSpan elapsed, CancellationToken cancellationToken);
}
