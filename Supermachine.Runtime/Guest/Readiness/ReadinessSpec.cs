namespace Supermachine.Guest.Readiness;

/// <summary>
/// When a started workload counts as ready: every condition given must hold (port, log line, HTTP,
/// command); with none of those given, the image's own HEALTHCHECK when it has one. The bake waits
/// for it before the snapshot, a cold start before handing the VM over.
/// </summary>
internal sealed record ReadinessSpec
{
    /// <summary>A guest TCP port that must listen.</summary>
    public int? Port { get; init; }

    /// <summary>A regular expression a workload log line must match, <see cref="LogTimes"/> times.</summary>
    public string? LogPattern { get; init; }

    /// <summary>How many log lines must match <see cref="LogPattern"/> (the Nth one is the ready signal).</summary>
    public int LogTimes { get; init; } = 1;

    /// <summary>A guest HTTP endpoint a GET must answer with 2xx.</summary>
    public HttpProbe? Http { get; init; }

    /// <summary>A shell command (sh -c) that must exit 0 in the guest.</summary>
    public string? Command { get; init; }

    /// <summary>The image's HEALTHCHECK, used only when nothing else is given.</summary>
    public HealthcheckProbe? Healthcheck { get; init; }

    /// <summary>True when no condition is given: the workload is ready once it runs.</summary>
    public bool IsEmpty => Port is null && LogPattern is null && Http is null && Command is null && Healthcheck is null;
}

/// <summary>GET http://127.0.0.1:PORT/PATH in the guest.</summary>
internal sealed record HttpProbe(int Port, string Path)
{
    public override string ToString() => $"{Port}{Path}";
}

/// <summary>An OCI HEALTHCHECK: Test is ["CMD", argv...] or ["CMD-SHELL", command].</summary>
internal sealed record HealthcheckProbe(IReadOnlyList<string> Test, TimeSpan Interval, TimeSpan Timeout, TimeSpan StartPeriod, int Retries)
{
    /// <summary>Docker's defaults for a zero interval, timeout or retries.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public const int DefaultRetries = 3;

    /// <summary>The argv the probe runs, or null for a test that is not a command (NONE, empty).</summary>
    public IReadOnlyList<string>? Argv => Test.Count switch
    {
        > 1 when Test[0] == "CMD" => Test.Skip(1).ToArray(),
        2 when Test[0] == "CMD-SHELL" => ["/bin/sh", "-c", Test[1]],
        _ => null,
    };

    public override string ToString() => Test.Count > 1 ? string.Join(' ', Test.Skip(1)) : string.Join(' ', Test);
}

/// <summary>The text forms of readiness settings, shared by metadata, the command line and the manifest.</summary>
internal static class ReadinessText
{
    /// <summary>"PORT/PATH" (8080/health, 80/) as a probe; null when it is not that.</summary>
    public static HttpProbe? ParseHttp(string text)
    {
        string value = text.Trim();
        int slash = value.IndexOf('/');
        string port = slash < 0 ? value : value[..slash];
        string path = slash < 0 ? "/" : value[slash..];
        return int.TryParse(port, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n is > 0 and <= 65535
            && !path.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            ? new HttpProbe(n, path)
            : null;
    }
}
