namespace Supermachine.Dockerfile.Planning;

/// <summary>HEALTHCHECK settings as stored in an image config.</summary>
internal sealed record HealthcheckConfig(IReadOnlyList<string> Test, TimeSpan Interval, TimeSpan Timeout, TimeSpan StartPeriod, TimeSpan StartInterval, int Retries);

/// <summary>
/// The runtime configuration of an image as Dockerfile instructions shape it (the OCI image
/// config's <c>config</c> object plus the author). Mutable while a stage is planned; the plan
/// keeps a copy per stage.
/// </summary>
internal sealed class ImageConfig
{
    /// <summary>Environment as <c>KEY=value</c>, in definition order.</summary>
    public List<string> Env { get; init; } = [];

    public List<string>? Cmd { get; set; }

    public List<string>? Entrypoint { get; set; }

    public string WorkingDir { get; set; } = "";

    public string User { get; set; } = "";

    /// <summary>Ports as <c>80/tcp</c>.</summary>
    public SortedSet<string> ExposedPorts { get; init; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, string> Labels { get; init; } = new(StringComparer.Ordinal);

    public SortedSet<string> Volumes { get; init; } = new(StringComparer.Ordinal);

    public string? StopSignal { get; set; }

    /// <summary>Null means the default <c>["/bin/sh", "-c"]</c>.</summary>
    public List<string>? Shell { get; set; }

    public HealthcheckConfig? Healthcheck { get; set; }

    /// <summary>ONBUILD triggers, run by builds that use this image as their base.</summary>
    public List<string> OnBuild { get; init; } = [];

    /// <summary>From MAINTAINER.</summary>
    public string? Author { get; set; }

    /// <summary>The shell RUN and shell-form CMD/ENTRYPOINT use.</summary>
    public IReadOnlyList<string> EffectiveShell => Shell ?? DefaultShell;

    public static IReadOnlyList<string> DefaultShell { get; } = ["/bin/sh", "-c"];

    /// <summary>The value of <paramref name="key"/> in <see cref="Env"/>, or null.</summary>
    public string? GetEnv(string key)
    {
        string prefix = key + "=";
        string? entry = Env.LastOrDefault(e => e.StartsWith(prefix, StringComparison.Ordinal));
        return entry?[prefix.Length..];
    }

    /// <summary>Sets <paramref name="key"/>, replacing an existing entry in place.</summary>
    public void SetEnv(string key, string value)
    {
        string prefix = key + "=";
        int index = Env.FindIndex(e => e.StartsWith(prefix, StringComparison.Ordinal) || e == key);
        if (index >= 0)
        {
            Env[index] = prefix + value;
        }
        else
        {
            Env.Add(prefix + value);
        }
    }

    public ImageConfig Clone() => new()
    {
        Env = [.. Env],
        Cmd = Cmd is null ? null : [.. Cmd],
        Entrypoint = Entrypoint is null ? null : [.. Entrypoint],
        WorkingDir = WorkingDir,
        User = User,
        ExposedPorts = new SortedSet<string>(ExposedPorts, StringComparer.Ordinal),
        Labels = new SortedDictionary<string, string>(Labels, StringComparer.Ordinal),
        Volumes = new SortedSet<string>(Volumes, StringComparer.Ordinal),
        StopSignal = StopSignal,
        Shell = Shell is null ? null : [.. Shell],
        Healthcheck = Healthcheck,
        OnBuild = [.. OnBuild],
        Author = Author,
    };
}
