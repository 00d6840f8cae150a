using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Supermachine.Diagnostics;

namespace Supermachine.Guest.Readiness;

/// <summary>A guest TCP port listening, read from /proc/net/tcp{,6}; says early when other ports listen instead.</summary>
internal sealed class PortCondition(int port, Action<string>? notice) : ReadinessCondition
{
    private readonly GuestCpu _cpu = new();
    private string _others = "";
    private TimeSpan _othersSince;
    private TimeSpan _busyUntil;
    private bool _noticed;

    public override string Describe() => $"port {port} listening";

    public override string TimedOut(TimeSpan timeout) => $"port {port} never listened within {timeout.TotalSeconds:F0} s ({Status}).";

    public override async Task<string?> CheckAsync(AgentConnection agent, WorkloadLog log, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        IReadOnlyList<int>? listening = await ListeningPorts.ReadAsync(agent, cancellationToken).ConfigureAwait(false);
        if (listening is null)
        {
            // No readable /proc/net/tcp: ask the agent, which waits on its own, briefly.
            try
            {
                await agent.WaitForPortAsync(port, TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
                Met = true;
            }
            catch (SupermachineException)
            {
                Status = "nothing listens on it";
            }
            return null;
        }
        if (listening.Contains(port))
        {
            Met = true;
            return null;
        }
        string others = string.Join(", ", listening);
        if (others != _others)
        {
            _others = others;
            _othersSince = elapsed;
            _noticed = false;
        }
        Status = others.Length == 0 ? "nothing listens yet" : $"the workload listens on {others} instead";
        if (others.Length == 0)
        {
            return null;
        }
        // A workload that opened its ports and keeps them as they are will not open this one: most
        // likely Port is wrong. Say so soon, and fail well before the full timeout.
        TimeSpan stable = elapsed - _othersSince;
        if (!_noticed && stable >= WorkloadReadiness.OtherPortsNotice)
        {
            _noticed = true;
            notice?.Invoke($"still waiting for port {port}, but the workload listens on {others} instead; is the port right?");
        }
        // Fail only once the guest has been idle as long: a server still starting is busy, and may
        // open its port long after its others (RabbitMQ: epmd and distribution a minute before AMQP
        // under emulation).
        if (await _cpu.BusyAsync(agent, cancellationToken).ConfigureAwait(false))
        {
            _busyUntil = elapsed;
        }
        TimeSpan idle = elapsed - (_busyUntil > _othersSince ? _busyUntil : _othersSince);
        return idle >= WorkloadReadiness.OtherPortsFailure
            ? $"port {port} never listened, but the workload listens on {others} (unchanged, with the guest idle, for {idle.TotalSeconds:F0} s). Set the port to one it listens on, or make it listen on {port}."
            : null;
    }
}

/// <summary>Whether the guest's CPUs were mostly busy since the last look, from /proc/stat.</summary>
internal sealed class GuestCpu
{
    /// <summary>Above this share of all CPU time spent outside idle, the guest counts as busy (the agent's own polling is far below it).</summary>
    private const double BusyShare = 0.3;

    private (long Busy, long Total)? _last;

    public async Task<bool> BusyAsync(AgentConnection agent, CancellationToken cancellationToken)
    {
        (long Busy, long Total)? now;
        try
        {
            now = Parse(Encoding.ASCII.GetString(await agent.ReadFileAsync("/proc/stat", 1024 * 1024, cancellationToken).ConfigureAwait(false)));
        }
        catch (SupermachineException e) when (e.Code == Errors.Codes.GuestOperationFailed)
        {
            now = null;
        }
        (long Busy, long Total)? last = _last;
        _last = now;
        return now is { } n && last is { } l && n.Total > l.Total && (double)(n.Busy - l.Busy) / (n.Total - l.Total) > BusyShare;
    }

    /// <summary>(busy, total) jiffies of the "cpu" line: busy is user, nice, system, irq, softirq and steal; total adds idle and iowait.</summary>
    internal static (long Busy, long Total)? Parse(string stat)
    {
        string? line = stat.Split('\n').FirstOrDefault(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        long[] v = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
            .Select(f => long.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : 0).ToArray() ?? [];
        if (v.Length < 8)
        {
            return null;
        }
        long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        return (busy, busy + v[3] + v[4]);
    }
}

/// <summary>The Nth workload log line matching a regular expression (counted as the log grows).</summary>
internal sealed class LogCondition(string pattern, int times) : ReadinessCondition
{
    private readonly Regex _regex = new(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    private long _consumed;
    private string _partial = "";
    private int _count;

    public override string Describe() => times == 1 ? $"a log line matching '{pattern}'" : $"the log line matching '{pattern}' for the {Ordinal(times)} time";

    public override Task<string?> CheckAsync(AgentConnection agent, WorkloadLog log, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        // Only the bytes written since the last poll are new; the log the agent keeps is its last MiB.
        long fresh = log.TotalBytes - _consumed;
        if (fresh > 0)
        {
            int take = (int)Math.Min(fresh, log.Content.Length);
            string text = (fresh > log.Content.Length ? "" : _partial) + Encoding.UTF8.GetString(log.Content.AsSpan(log.Content.Length - take));
            _consumed = log.TotalBytes;
            string[] lines = text.Split('\n');
            _partial = lines[^1];
            _count += lines[..^1].Count(l => _regex.IsMatch(l.TrimEnd('\r')));
        }
        // A last line without its newline yet counts too (a workload may flush "ready" alone).
        int seen = _count + (_partial.Length > 0 && _regex.IsMatch(_partial) ? 1 : 0);
        Met = seen >= times;
        Status = $"seen {seen} of {times} time{(times == 1 ? "" : "s")}";
        return Task.FromResult<string?>(null);
    }

    private static string Ordinal(int n) => n + ((n % 100) is 11 or 12 or 13 ? "th" : (n % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" });
}

/// <summary>GET http://127.0.0.1:PORT/PATH in the guest answering 2xx, through the agent's port forward.</summary>
internal sealed class HttpCondition(HttpProbe probe) : ReadinessCondition
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    public override string Describe() => $"HTTP GET {probe.Path} on port {probe.Port} answering 2xx";

    public override async Task<string?> CheckAsync(AgentConnection agent, WorkloadLog log, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        if (!Due(elapsed, TimeSpan.FromSeconds(1)))
        {
            return null;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            await using AgentDuplexStream stream = await agent.OpenPortForwardAsync(probe.Port, timeout.Token).ConfigureAwait(false);
            byte[] request = Encoding.ASCII.GetBytes($"GET {probe.Path} HTTP/1.0\r\nHost: 127.0.0.1:{probe.Port}\r\nUser-Agent: supermachine-readiness\r\nConnection: close\r\n\r\n");
            await stream.WriteAsync(request, timeout.Token).ConfigureAwait(false);
            string statusLine = await ReadStatusLineAsync(stream, timeout.Token).ConfigureAwait(false);
            string[] parts = statusLine.Split(' ', 3);
            if (parts.Length >= 2 && parts[0].StartsWith("HTTP/", StringComparison.Ordinal) && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int code))
            {
                Met = code is >= 200 and < 300;
                Status = $"the last answer was {statusLine.Trim()}";
            }
            else
            {
                Status = statusLine.Length == 0 ? "the connection closed without an answer" : $"the answer was not HTTP: '{statusLine}'";
            }
        }
        catch (Exception e) when (e is SupermachineException or IOException || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            Status = e is OperationCanceledException ? $"no answer within {RequestTimeout.TotalSeconds:F0} s" : $"could not connect ({Message(e)})";
        }
        return null;
    }

    private static async Task<string> ReadStatusLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var line = new List<byte>();
        byte[] buffer = new byte[512];
        while (line.Count < 8192)
        {
            int n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            line.AddRange(buffer.AsSpan(0, n));
            if (line.IndexOf((byte)'\n') is int end and >= 0)
            {
                return Encoding.ASCII.GetString(line.GetRange(0, end).ToArray()).TrimEnd('\r');
            }
        }
        return Encoding.ASCII.GetString(line.ToArray()).TrimEnd('\r');
    }

    private static string Message(Exception e) => e is SupermachineException s ? s.Text : e.Message;
}

/// <summary>A shell command exiting 0 in the guest (with the workload's environment, user and directory).</summary>
internal sealed class CommandCondition(string command) : ReadinessCondition
{

    public override string Describe() => $"the command '{command}' exiting 0";

    public override async Task<string?> CheckAsync(AgentConnection agent, WorkloadLog log, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        if (!Due(elapsed, TimeSpan.FromSeconds(1)))
        {
            return null;
        }
        ExecResult result = await GuestProbe.RunAsync(agent, ["/bin/sh", "-c", command], TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        Met = result.ExitCode == 0 && result.Signal is null && !result.TimedOut;
        Status = GuestProbe.Outcome(result);
        return null;
    }
}

/// <summary>
/// The image's HEALTHCHECK passing once. It is probed every second at most (readiness is what a
/// bake waits for, not a periodic check), and fails as Docker would call the container unhealthy:
/// after the start period, failures in a row for Retries times the Interval.
/// </summary>
internal sealed class HealthcheckCondition(HealthcheckProbe probe) : ReadinessCondition
{
    private TimeSpan? _failingSince;
    private int _failures;

    public override string Describe() => $"the image's HEALTHCHECK ({probe}) passing";

    public override async Task<string?> CheckAsync(AgentConnection agent, WorkloadLog log, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        TimeSpan interval = probe.Interval > TimeSpan.Zero ? probe.Interval : HealthcheckProbe.DefaultInterval;
        if (!Due(elapsed, interval < TimeSpan.FromSeconds(1) ? interval : TimeSpan.FromSeconds(1)))
        {
            return null;
        }
        TimeSpan timeout = probe.Timeout > TimeSpan.Zero ? probe.Timeout : HealthcheckProbe.DefaultTimeout;
        ExecResult result = await GuestProbe.RunAsync(agent, probe.Argv!, timeout, cancellationToken).ConfigureAwait(false);
        Met = result.ExitCode == 0 && result.Signal is null && !result.TimedOut;
        Status = GuestProbe.Outcome(result);
        if (Met || elapsed < probe.StartPeriod)
        {
            _failingSince = null;
            _failures = 0;
            return null;
        }
        _failingSince ??= elapsed;
        _failures++;
        int retries = probe.Retries > 0 ? probe.Retries : HealthcheckProbe.DefaultRetries;
        return elapsed - _failingSince.Value >= interval * retries && _failures > retries
            ? $"the image's HEALTHCHECK ({probe}) kept failing for {(elapsed - _failingSince.Value).TotalSeconds:F0} s after its start period, so Docker would call it unhealthy ({Status})."
            : null;
    }
}

/// <summary>Runs a probe command in the guest and words its outcome.</summary>
internal static class GuestProbe
{
    public static Task<ExecResult> RunAsync(AgentConnection agent, IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken cancellationToken) =>
        agent.ExecAsync(new ExecRequest(argv) { Timeout = timeout, MaxOutputBytes = 1024 * 1024 }, cancellationToken);

    /// <summary>"exit code 1: OUTPUT TAIL", "killed by signal 9", "timed out".</summary>
    public static string Outcome(ExecResult result)
    {
        string how = result.TimedOut ? $"timed out after {result.Duration.TotalSeconds:F0} s" : result.Signal is int s ? $"killed by signal {s}" : $"exit code {result.ExitCode}";
        string output = (result.StandardOutput + result.StandardError).Trim();
        return output.Length == 0 ? how : $"{how}: {(output.Length > 300 ? "..." + output[^300..] : output)}";
    }
}

/// <summary>The TCP ports listening in the guest, from /proc/net/tcp and /proc/net/tcp6.</summary>
internal static class ListeningPorts
{
    private const string Listen = "0A";

    /// <summary>The sorted listening ports, or null when the guest's /proc/net/tcp cannot be read.</summary>
    public static async Task<IReadOnlyList<int>?> ReadAsync(AgentConnection agent, CancellationToken cancellationToken)
    {
        var ports = new SortedSet<int>();
        bool any = false;
        foreach (string table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            try
            {
                byte[] content = await agent.ReadFileAsync(table, 4L * 1024 * 1024, cancellationToken).ConfigureAwait(false);
                ports.UnionWith(Parse(Encoding.ASCII.GetString(content)));
                any = true;
            }
            catch (SupermachineException e) when (e.Code == Errors.Codes.GuestOperationFailed)
            {
                // tcp6 is absent in a guest without IPv6.
            }
        }
        return any ? ports.ToArray() : null;
    }

    /// <summary>Ports of the LISTEN rows ("sl local_address rem_address st ...", the address as HEX_IP:HEX_PORT).</summary>
    public static IEnumerable<int> Parse(string table)
    {
        foreach (string line in table.Split('\n').Skip(1))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 3 && fields[3] == Listen && fields[1].LastIndexOf(':') is int colon and > 0
                && int.TryParse(fields[1].AsSpan(colon + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int port))
            {
                yield return port;
            }
        }
    }
}
