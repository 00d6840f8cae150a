using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Guest.Staging;
using Supermachine.Guest.Storage;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;
using Supermachine.Images;

namespace Supermachine;

/// <summary>
/// A running microVM started from a baked image: restored from its snapshot when it has one (the
/// workload is already serving), else booted cold. Talk to it through forwarded ports
/// (<see cref="GetEndpoint"/>), commands (<see cref="ExecAsync(IReadOnlyList{string}, CancellationToken)"/>)
/// and files. Disposing it stops the guest; nothing of it outlives the process.
/// </summary>
public sealed class MicroVm : IAsyncDisposable
{
    private static readonly Lazy<QemuBackend> SharedBackend = new(() => new QemuBackend());

    private readonly GuestInstance _guest;
    private readonly ConcurrentDictionary<int, AgentPortForwarder> _forwarders = new();
    private readonly ConcurrentBag<AgentPortForwarder> _published = [];
    private readonly HostPortRelay? _hostPorts;
    private readonly NetworkAttachment? _network;
    private readonly GuestStorage _storage;
    private int _disposed;

    private MicroVm(MicroVmImage image, GuestInstance guest, bool restored, TimeSpan startDuration, IReadOnlyList<int> hostPorts, NetworkAttachment? network, GuestStorage storage)
    {
        Image = image;
        _guest = guest;
        _network = network;
        _storage = storage;
        _hostPorts = hostPorts.Count > 0 ? HostPortRelay.Start(guest.Agent, hostPorts) : null;
        Restored = restored;
        StartDuration = startDuration;
    }

    /// <summary>The image this VM was started from.</summary>
    public MicroVmImage Image { get; }

    /// <summary>True when it came back from the image's snapshot, false for a cold boot.</summary>
    public bool Restored { get; }

    /// <summary>From the call to a ready guest (agent answering, workload serving).</summary>
    public TimeSpan StartDuration { get; }

    public Accelerator Accelerator => _guest.Machine.Accelerator;

    /// <summary>The engine's machine (tests kill it to play a VM that dies).</summary>
    internal IVirtualMachine Machine => _guest.Machine;

    /// <summary>The VM's address on its private network (<see cref="MicroVmOptions.Network"/>), null when it is on none.</summary>
    public IPAddress? NetworkAddress => _network?.Address;

    /// <summary>Starts the image an app's build baked as <paramref name="name"/> (under AppContext.BaseDirectory/microvms).</summary>
    public static Task<MicroVm> StartAsync(string name, MicroVmOptions? options = null, CancellationToken cancellationToken = default) =>
        StartAsync(MicroVmImage.Find(name), options, cancellationToken);

    /// <summary>Starts <paramref name="image"/>: a restore when it has a snapshot, else a cold boot that starts its workload.</summary>
    public static async Task<MicroVm> StartAsync(MicroVmImage image, MicroVmOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= new MicroVmOptions();
        var clock = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.StartTimeout);
        IVmBackend backend = options.Backend ?? SharedBackend.Value;
        if (options.VerifyIntegrity)
        {
            await image.VerifyOnceAsync(timeout.Token).ConfigureAwait(false);
        }

        bool restore = image.HasSnapshot && !options.ColdBoot;
        VmSnapshotInfo? snapshot = restore ? backend.ReadSnapshot(image.Stored.SnapshotPath) : null;
        bool nat = WantsNat(image, options.Network, snapshot);
        GuestArchitecture architecture = GuestArchitecture.FromRecord(image.Manifest.Machine.Architecture, image.Name);
        if (!architecture.IsHost)
        {
            options.Warn(Warnings.ForeignGuestEmulated(image.Name, architecture.Platform, GuestArchitecture.Host.Platform));
        }
        IReadOnlyList<string> aliases = MicroVmNetwork.CheckAliases(options.Aliases);
        bool joins = options.Network is { IsNone: false };
        if (aliases.Count > 0 && !joins)
        {
            throw Errors.InvalidNetworkName("Aliases", string.Join(';', aliases), "aliases name a VM on a private network: set Network to one (--network NAME)");
        }
        using GuestStorage storage = PrepareStorage(image, options, snapshot);
        NetworkAttachment? network = joins ? await NetworkAttachment.JoinAsync(options.Network!.Name, aliases, timeout.Token).ConfigureAwait(false) : null;
        try
        {
            var spec = new VmMachineSpec
            {
                Architecture = architecture,
                KernelPath = image.Stored.KernelPath,
                InitrdPath = image.Stored.InitramfsPath,
                RootfsPath = image.Stored.RootfsPath,
                MemoryMiB = options.MemoryMiB ?? NonZero(image.Manifest.Machine.MemoryMiB, 256),
                Vcpus = options.Vcpus ?? NonZero(image.Manifest.Machine.Vcpus, 1),
                DiskMiB = options.DiskMiB ?? NonZero(image.Manifest.Machine.DiskMiB, VmMachineSpec.DefaultDiskMiB),
                Accelerator = options.Accelerator,
                Snapshottable = true,
                Nat = nat,
                PrivateSwitch = network?.SwitchSocket,
                KernelArguments = image.Manifest.Machine.KernelArguments ?? "",
                BakedVolumes = image.Manifest.Workload.BakedVolumes(NonZero(image.Manifest.Machine.DiskMiB, VmMachineSpec.DefaultDiskMiB)),
                Attachments = storage.Attachments,
            };
            GuestInstance guest = await StartGuestAsync(image, options, backend, spec, snapshot is not null, network, storage, timeout.Token).ConfigureAwait(false);
            options.Logger?.LogInformation("{Image}: {How} in {Milliseconds:F0} ms ({Accelerator}: {Reason})",
                image.Name, restore ? "restored" : "booted", clock.Elapsed.TotalMilliseconds, guest.Machine.Accelerator.ToString().ToLowerInvariant(), guest.Machine.AcceleratorReason);
            return new MicroVm(image, guest, restore, clock.Elapsed, options.HostPorts ?? [], network, storage.Keep());
        }
        catch
        {
            if (network is not null)
            {
                await network.DisposeAsync().ConfigureAwait(false);
            }
            throw;
        }
    }

    /// <summary>
    /// Restores or boots the guest and brings it to the state of a running workload: on a restore,
    /// its private network identity, run-time volumes and mounts and the files given; on a cold boot
    /// the identity and the attachments before the workload starts, so the workload resolves its peers from its first line.
    /// </summary>
    private static async Task<GuestInstance> StartGuestAsync(MicroVmImage image, MicroVmOptions options, IVmBackend backend, VmMachineSpec spec, bool restore, NetworkAttachment? network, GuestStorage storage, CancellationToken cancellationToken)
    {
        IReadOnlyList<GuestFile> files = options.Files.Select(f => f.ToGuestFile()).ToArray();
        GuestInstance guest = restore
            ? await GuestInstance.RestoreAsync(backend, spec, image.Stored.SnapshotPath, options.StartTimeout, cancellationToken).ConfigureAwait(false)
            : await GuestInstance.BootAsync(backend, spec, options.StartTimeout, cancellationToken).ConfigureAwait(false);
        try
        {
            if (network is not null)
            {
                await network.AttachAsync(guest.Agent, cancellationToken).ConfigureAwait(false);
            }
            if (restore)
            {
                await storage.AttachAsync(guest, cancellationToken).ConfigureAwait(false);
                await GuestFiles.WriteAsync(guest.Agent, files, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                WorkloadStart start = image.Manifest.Workload.ToStart(image.Directory);
                await guest.Machine.PlugAttachmentsAsync(cancellationToken).ConfigureAwait(false);
                await guest.StartWorkloadAsync(image.Name, start with { Mounts = [.. start.Mounts, .. storage.Mounts], Files = [.. start.Files, .. files] }, options.StartTimeout, options.Logger is { } logger ? line => logger.LogWarning("{Image}: {Notice}", image.Name, line) : null, cancellationToken).ConfigureAwait(false);
            }
            return guest;
        }
        catch
        {
            await guest.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The run-time volumes and host directories of a start: the image's Mounts, then the options' (SM237x for bad ones).</summary>
    private static GuestStorage PrepareStorage(MicroVmImage image, MicroVmOptions options, VmSnapshotInfo? snapshot)
    {
        string owner = $"MicroVm '{image.Name}'";
        List<StorageSpec> specs =
        [
            .. StorageSpec.ParseList(owner, image.Manifest.Workload.Mounts ?? [], StorageKind.HostDirectory, "the image's Mounts"),
            .. StorageSpec.ParseList(owner, options.Volumes, StorageKind.Volume, "MicroVmOptions.Volumes"),
            .. StorageSpec.ParseList(owner, options.Mounts, StorageKind.HostDirectory, "MicroVmOptions.Mounts"),
        ];
        if (specs.Count > 0 && snapshot is { HotplugSlots: 0 })
        {
            throw Errors.SnapshotWithoutHotplug(image.Name);
        }
        return GuestStorage.Prepare(owner, specs, options.VolumeDirectory, snapshot?.HotplugSlots ?? VmMachineSpec.DefaultHotplugSlots);
    }

    /// <summary>Whether the VM gets a NIC behind the NAT: as asked, else as baked; a snapshot must match (SM3062).</summary>
    private static bool WantsNat(MicroVmImage image, MicroVmNetwork? network, VmSnapshotInfo? snapshot)
    {
        if (snapshot is null)
        {
            return network is not { IsNone: true };
        }
        if (network is { IsNone: true } && snapshot.Nat)
        {
            throw Errors.SnapshotNetworkMismatch(image.Name, "the NAT network", "--network none");
        }
        if (network is { IsNone: false } && !snapshot.Nat)
        {
            throw Errors.SnapshotNetworkMismatch(image.Name, "--network none", $"the network '{network.Name}'");
        }
        return snapshot.Nat;
    }

    /// <summary>
    /// The host end of guest port <paramref name="guestPort"/>: 127.0.0.1 and an ephemeral port whose
    /// connections are forwarded into the guest. The listener opens on first use and lives as long as the VM.
    /// </summary>
    public IPEndPoint GetEndpoint(int guestPort)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(guestPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(guestPort, 65535);
        return _forwarders.GetOrAdd(guestPort, port => AgentPortForwarder.Start(_guest.Agent, port)).EndPoint;
    }

    /// <summary>
    /// Forwards host 127.0.0.1:<paramref name="hostPort"/> (0 for an ephemeral port) to guest port
    /// <paramref name="guestPort"/>, as `docker run -p` does but on loopback only.
    /// </summary>
    public IPEndPoint Publish(int guestPort, int hostPort)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (hostPort == 0)
        {
            return GetEndpoint(guestPort);
        }
        AgentPortForwarder forwarder;
        try
        {
            forwarder = AgentPortForwarder.Start(_guest.Agent, guestPort, hostPort);
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode is System.Net.Sockets.SocketError.AddressAlreadyInUse or System.Net.Sockets.SocketError.AccessDenied)
        {
            throw Errors.HostPortInUse(hostPort, guestPort, cause: e);
        }
        _published.Add(forwarder);
        return forwarder.EndPoint;
    }

    /// <summary>"127.0.0.1:PORT" of <see cref="GetEndpoint"/>, the form most clients take (redis, memcached, ...).</summary>
    public string GetConnectionString(int guestPort)
    {
        IPEndPoint endpoint = GetEndpoint(guestPort);
        return $"{endpoint.Address}:{endpoint.Port}";
    }

    /// <summary>
    /// The client connection string the image was baked with, its host and port those of the
    /// forwarded endpoint: an image profile's (postgres
    /// <c>Host=127.0.0.1;Port=N;Username=postgres;Password=P;Database=postgres</c>, redis
    /// <c>127.0.0.1:N</c>, ...) or the item's ConnectionString; else "127.0.0.1:PORT" of the item's
    /// Port. SM3130 when the image has neither.
    /// </summary>
    public string GetConnectionString() => ConnectionStringOf(Image.Manifest, GetEndpoint);

    /// <summary>The connection string <paramref name="manifest"/> describes, for the host end <paramref name="endpoint"/> gives a guest port.</summary>
    internal static string ConnectionStringOf(SnapshotManifest manifest, Func<int, IPEndPoint> endpoint)
    {
        if (manifest.Connection is { } connection && (connection.Port ?? manifest.Workload.Port) is int port)
        {
            IPEndPoint host = endpoint(port);
            return ImageProfiles.Format(connection.Format, host.Address.ToString(), host.Port);
        }
        return manifest.Workload.Port is int only ? endpoint(only).ToString() : throw Errors.NoConnectionString(manifest.Name);
    }

    /// <summary>Runs <paramref name="command"/> in the guest with the workload's environment and user, as `docker exec` does.</summary>
    public Task<ExecResult> ExecAsync(IReadOnlyList<string> command, CancellationToken cancellationToken = default) =>
        ExecAsync(new ExecRequest(command), cancellationToken);

    /// <summary>Runs a command in the guest with the given environment, directory, user, input and time limit.</summary>
    public Task<ExecResult> ExecAsync(ExecRequest request, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _guest.Agent.ExecAsync(request, cancellationToken);
    }

    /// <summary>Starts a command and streams its standard input, output and error.</summary>
    public Task<AgentProcess> StartProcessAsync(ExecRequest request, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _guest.Agent.StartExecAsync(request, cancellationToken);
    }

    public Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) =>
        _guest.Agent.WriteFileAsync(path, content, cancellationToken: cancellationToken);

    public Task<byte[]> ReadFileAsync(string path, CancellationToken cancellationToken = default) =>
        _guest.Agent.ReadFileAsync(path, cancellationToken: cancellationToken);

    /// <summary>What the workload wrote to stdout and stderr (the last MiB), and whether it still runs.</summary>
    public Task<WorkloadLog> GetWorkloadLogAsync(CancellationToken cancellationToken = default) =>
        _guest.Agent.GetWorkloadLogAsync(cancellationToken);

    /// <summary>
    /// The workload's log line by line as it is written: every line so far (the last MiB), then each
    /// new one, until the workload exits or <paramref name="cancellationToken"/> is cancelled. New
    /// lines are seen within <paramref name="pollInterval"/> (default 200 ms).
    /// </summary>
    public IAsyncEnumerable<string> FollowWorkloadLogAsync(TimeSpan? pollInterval = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return WorkloadLogFollower.FollowAsync(_guest.Agent.GetWorkloadLogAsync, pollInterval ?? TimeSpan.FromMilliseconds(200), cancellationToken);
    }

    /// <summary>The guest's serial console, most recent part: for diagnosing a guest, not for parsing.</summary>
    public string ReadConsoleTail(int maxBytes = 8192) => _guest.Machine.ReadConsoleTail(maxBytes);

    /// <summary>
    /// Saves this VM as a new image in <paramref name="directory"/> (e.g. after seeding test data):
    /// restorable like a baked one, with everything written so far. The VM keeps running.
    /// </summary>
    public async Task<MicroVmImage> SnapshotAsync(string directory, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        string destination = Path.GetFullPath(directory);
        string staging = SnapshotDirectory.CreateStaging(destination);
        try
        {
            foreach (string file in new[] { ArtifactLayout.Rootfs, ArtifactLayout.Kernel, ArtifactLayout.Initramfs })
            {
                File.Copy(Path.Combine(Image.Directory, file), Path.Combine(staging, file));
            }
            VmSnapshotInfo info = await _guest.Machine.SaveSnapshotAsync(Path.Combine(staging, ArtifactLayout.SnapshotDirectory), cancellationToken).ConfigureAwait(false);
            await _guest.Machine.ResumeAsync(cancellationToken).ConfigureAwait(false);
            SnapshotManifest manifest = Image.Manifest with
            {
                HasSnapshot = true,
                Machine = Image.Manifest.Machine with { MemoryMiB = info.MemoryMiB, Vcpus = info.Vcpus, DiskMiB = info.DiskMiB },
                // Its state is its own: no other bake shares this fingerprint.
                Fingerprint = "snapshot:" + Guid.NewGuid().ToString("N"),
            };
            await SnapshotDirectory.CommitAsync(staging, destination, manifest, cancellationToken).ConfigureAwait(false);
            return MicroVmImage.Load(destination);
        }
        finally
        {
            SnapshotDirectory.DeleteIfPresent(staging);
        }
    }

    /// <summary>
    /// Stops the VM as `docker stop` does: the workload gets the image's STOPSIGNAL (SIGTERM when it
    /// has none), up to the image's StopTimeout (10 s by default) to exit, then the VM is killed.
    /// Returns the workload's log and state as last seen (null when the guest no longer answered).
    /// </summary>
    public Task<WorkloadLog?> StopAsync(CancellationToken cancellationToken = default) =>
        ShutDownAsync(StopTimeout, cancellationToken);

    /// <summary>Stops the VM gracefully as <see cref="StopAsync"/> does, but waits at most 2 s for the workload.</summary>
    public async ValueTask DisposeAsync() =>
        await ShutDownAsync(StopTimeout < DisposeGrace ? StopTimeout : DisposeGrace, CancellationToken.None).ConfigureAwait(false);

    /// <summary>Tears the VM down at once, without signalling the workload (a pool's release).</summary>
    internal async ValueTask TerminateAsync() =>
        await ShutDownAsync(TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);

    private static readonly TimeSpan DisposeGrace = TimeSpan.FromSeconds(2);

    private TimeSpan StopTimeout => TimeSpan.FromSeconds(Image.Manifest.Workload.StopTimeout ?? 10);

    private async Task<WorkloadLog?> ShutDownAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return null;
        }
        foreach (AgentPortForwarder forwarder in _forwarders.Values.Concat(_published))
        {
            await forwarder.DisposeAsync().ConfigureAwait(false);
        }
        if (_hostPorts is not null)
        {
            await _hostPorts.DisposeAsync().ConfigureAwait(false);
        }
        try
        {
            return await _guest.StopAsync(Image.Manifest.Workload.StopSignal ?? SignalNumbers.Terminate, grace, cancellationToken, flushDisks: _storage.HasWritableVolumes).ConfigureAwait(false);
        }
        finally
        {
            // Only once the guest is gone may another VM write its volumes.
            _storage.Dispose();
            if (_network is not null)
            {
                await _network.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static int NonZero(int value, int fallback) => value > 0 ? value : fallback;
}
