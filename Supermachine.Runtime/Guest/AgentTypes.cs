using System.Text;

namespace Supermachine.Guest;

/// <summary>The image's process: what the agent starts, and what execs inherit by default.</summary>
internal sealed record WorkloadSpec
{
    /// <summary>Entrypoint followed by command; empty sets only the defaults execs inherit.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>The complete environment (the image's Env plus overrides), as "K=V".</summary>
    public IReadOnlyList<string> Environment { get; init; } = [];

    public string? WorkingDirectory { get; init; }

    /// <summary>The image's User: "name", "uid", "name:group" or "uid:gid"; null is root.</summary>
    public string? User { get; init; }

    /// <summary>The guest's hostname, also in /etc/hostname and resolvable through /etc/hosts; null keeps the agent's.</summary>
    public string? Hostname { get; init; }

    /// <summary>Size of the /dev/shm tmpfs in MiB; null keeps the agent's 64.</summary>
    public int? ShmMiB { get; init; }

    /// <summary>The runtime settings WORKLOAD_START carries after the environment (guest/agent/runtime.c).</summary>
    public IReadOnlyList<string> Settings()
    {
        var settings = new List<string>();
        if (Hostname is not null)
        {
            settings.Add("hostname=" + Hostname);
        }
        if (ShmMiB is int shm)
        {
            settings.Add("shm_mib=" + shm.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return settings;
    }
}

/// <summary>What the agent said in its hello.</summary>

internal sealed record AgentInfo(uint ProtocolVersion, string AgentVersion, bool IsInit, bool WorkloadRunning, bool WorkloadExited);

/// <summary>Options of an <see cref="AgentConnection"/>.</summary>

internal sealed record AgentConnectionOptions
{
    /// <summary>How long to wait for the agent's hello (it includes the guest's boot on a cold start).</summary>
    public TimeSpan HelloTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long the host waits on the guest within an operation before failing it with SM3020:
    /// for an acknowledgement, for the next bytes of a file, log or export, for window credit, for
    /// an exit that is due. A frame the guest does not read within it ends the connection (SM3021).
    /// Not applied while a command runs or a port-forward connection idles: those wait on the
    /// workload, not on the agent. <see cref="Timeout.InfiniteTimeSpan"/> waits forever.
    /// </summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// A MOUNT request: <see cref="Source"/> is the virtio disk's serial for "ext4", the 9p share's tag
/// for "9p". <see cref="Fresh"/>: a volume formatted for this mount, whose root takes the owner and
/// mode of the directory it covers. <see cref="What"/> names it in errors ("the volume 'pgdata'").
/// </summary>
internal sealed record GuestMount(string Source, string FileSystem, string Target, bool ReadOnly, bool Fresh, string What);
