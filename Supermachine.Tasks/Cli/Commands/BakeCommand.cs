using Supermachine.Images;
using Supermachine.Bake;
using Supermachine.Oci.Locking;

namespace Supermachine.Tasks.Cli.Commands;

internal static class BakeCommand
{
    // First: Spec below is initialised from it, and static fields initialise in textual order.
    /// <summary>How the workload runs, as docker run's flags of the same names; also on run and exec when they start an IMAGE (exec's --user and --workdir are its command's).</summary>
    public static readonly OptionSpec[] WorkloadOptions =
    [
        new OptionSpec("entrypoint", null, "COMMAND", "Override the image's ENTRYPOINT (drops its CMD unless a command is given)."),
        new OptionSpec("user", "u", "USER", "Run the workload as USER (name, uid, name:group or uid:gid)."),
        new OptionSpec("workdir", "w", "DIR", "The workload's working directory (absolute)."),
        new OptionSpec("hostname", null, "NAME", "The guest's hostname (default: the image name)."),
        new OptionSpec("shm", null, "MIB", "Size of /dev/shm in MiB (default 64)."),
        new OptionSpec("stop-timeout", null, "SECONDS", "Seconds from STOPSIGNAL to SIGKILL on stop (default 10)."),
        new OptionSpec("profile", null, "NAME|none", "Image profile for port, environment, readiness and connection string (default: by repository name)."),
        new OptionSpec("connection-string", null, "FORMAT", "Client connection string with {host}, {port} and {env:NAME} (default: the profile's)."),
    ];

    /// <summary>--network none|NAME: no NIC, or a private network NAME beside the NAT (default: the NAT alone, host loopback hidden).</summary>
    public static readonly OptionSpec NetworkOption =
        new("network", null, "none|NAME", "Guest network: 'none' for no network interface, or NAME to join the private network NAME (VMs on it reach each other by alias, across processes), beside the outbound NAT (default: outbound NAT only).");

    /// <summary>--alias A: a name the VM's peers on its private network reach it by.</summary>
    public static readonly OptionSpec AliasOption =
        new("alias", null, "NAME", "A name the other VMs on --network NAME reach this one by.", Repeatable: true);

    /// <summary>-v on exec and run: a named volume or host directory for this start.</summary>
    public static readonly OptionSpec RunVolumeOption =
        new("volume", "v", "NAME:/PATH|/HOST/DIR:/PATH[:ro]", "A named volume (kept across runs) or a host directory, mounted in the guest after the start or restore.", Repeatable: true);

    /// <summary>--volume-dir on exec and run: where named volumes live.</summary>
    public static readonly OptionSpec VolumeDirectoryOption =
        new("volume-dir", null, "DIR", "Directory of the named volumes (default: the cache's volumes folder).");

    /// <summary>--host-port P: host 127.0.0.1:P reachable in the guest as host.supermachine.internal:P.</summary>
    public static readonly OptionSpec HostPortOption =
        new("host-port", null, "PORT", "Let the guest reach host 127.0.0.1:PORT as host.supermachine.internal:PORT (no other host port).", Repeatable: true);

    /// <summary>--platform: which manifest of a multi-platform image, and so which guest architecture.</summary>
    public static readonly OptionSpec PlatformOption =
        new("platform", null, "OS/ARCH[/VARIANT]", "Platform to pick from a multi-platform image; the guest runs its architecture (default: this host's; a foreign one is emulated).");

    public static readonly CommandSpec Spec = new(
        "bake",
        "IMAGE SNAPSHOT_DIR",
        "Pull, flatten, boot once, wait until ready and snapshot IMAGE into SNAPSHOT_DIR.",
        MinArguments: 2,
        MaxArguments: 2,
        Options: [.. Options("IMAGE"), .. ReadinessOptions.Options(build: false)],
        Run: (command, cancellationToken) => BakeAsync(command, ImageRequests.FromCommandLine(command, command.Arguments[0]), cancellationToken),
        AcceptsTrailingArguments: true);

    /// <summary>The options of every verb that bakes (bake, build): what the workload is and how the guest is sized.</summary>
    public static OptionSpec[] Options(string what) =>
    [
        new OptionSpec("port", "p", "PORT", "Guest port that must listen before the snapshot is taken."),
        new OptionSpec("env", "e", "K=V", "Environment variable for the workload.", Repeatable: true),
        new OptionSpec("memory", "m", "MIB", "Guest memory in MiB (default 256)."),
        new OptionSpec("vcpus", null, "N", "Guest vCPUs (default 1)."),
        new OptionSpec("disk", null, "MIB", "Size of the guest's writable disk in MiB, sparse (default 8192)."),
        new OptionSpec("name", null, "NAME", $"Name recorded in the manifest (default: derived from {what})."),
        PlatformOption,
        new OptionSpec("cmd", null, "COMMAND", "Override the image command (or give it after --)."),
        .. WorkloadOptions,
        new OptionSpec("no-snapshot", null, null, "Write a cold-bootable image only (no RAM snapshot)."),
        NetworkOption,
        AliasOption,
        HostPortOption,
        new OptionSpec("volume", "v", "NAME:/PATH", "A bake-time named volume: part of the snapshot, reset on each restore (Volumes).", Repeatable: true),
        new OptionSpec("mount", null, "/HOST/DIR:/PATH[:ro]", "A host directory mounted at every start of the image, never part of its snapshot (Mounts).", Repeatable: true),
    ];

    /// <summary>Bakes <paramref name="request"/> into the directory given as the command's last argument.</summary>
    public static async Task<int> BakeAsync(ParsedCommand command, MicroVmImageRequest request, CancellationToken cancellationToken)
    {
        ImageLockFile? lockFile = ImageRequests.LoadLockFile(request);
        StoredImage image = await ImageBaker.BakeAsync(request, command.Arguments[^1], new BakeOptions
        {
            Snapshot = !command.Has("no-snapshot"),
            LockFile = lockFile,
            RefreshLock = ImageRequests.LockMode == "Refresh",
            Progress = HostOutput.Progress,
            Detail = HostOutput.Detail,
            Warning = HostOutput.Warning,
        }, cancellationToken).ConfigureAwait(false);
        await ImageRequests.RecordAsync(request, image.Manifest.ImageDigest, cancellationToken).ConfigureAwait(false);
        return Program.Success;
    }
}
