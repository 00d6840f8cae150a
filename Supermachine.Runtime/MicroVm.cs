using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
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
    private readonly GuestStorage _storage;
    private int _disposed;

    private MicroVm(MicroVmImage image, GuestInstance guest, bool restored, TimeSpan startDuration, IReadOnlyList<int> hostPorts, GuestStorage storage)
    {
        Image = image;
        _guest = guest;
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
        using GuestStorage storage = PrepareStorage(image, options, snapshot);
        var spec = new VmMachineSpec
        {
            KernelPath = image.Stored.KernelPath,
            InitrdPath = image.Stored.InitramfsPath,
            RootfsPath = image.Stored.RootfsPath,
            MemoryMiB = options.MemoryMiB ?? NonZero(image.Manifest.Machine.MemoryMiB, 256),
            Vcpus = options.Vcpus ?? NonZero(image.Manifest.Machine.Vcpus, 1),
            DiskMiB = options.DiskMiB ?? NonZero(image.Manifest.Machine.DiskMiB, VmMachineSpec.DefaultDiskMiB),
            Accelerator = options.Accelerator,
            Snapshottable = true,
            Nat = nat,
            KernelArguments = image.Manifest.Machine.KernelArguments ?? "",
            BakedVolumes = image.Manifest.Workload.BakedVolumes(NonZero(image.Manifest.Machine.DiskMiB, VmMachineSpec.DefaultDiskMiB)),
            Attachments = storage.Attachments,
        };
        IReadOnlyList<GuestFile> files = options.Files.Select(f => f.ToGuestFile()).ToArray();

        GuestInstance guest;
        if (snapshot is not null)
        {
            guest = await GuestInstance.RestoreAsync(backend, spec, image.Stored.SnapshotPath, options.StartTimeout, timeout.Token).ConfigureAwait(false);
            try
            {
                await storage.AttachAsync(guest, timeout.Token).ConfigureAwait(false);
                await GuestFiles.WriteAsync(guest.Agent, files, timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                await guest.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        else
        {
            guest = await GuestInstance.BootAsync(backend, spec, options.StartTimeout, timeout.Token).ConfigureAwait(false);
            try
            {
                WorkloadStart start = image.Manifest.Workload.ToStart(image.Directory);
                await guest.Machine.PlugAttachmentsAsync(timeout.Token).ConfigureAwait(false);
                await guest.StartWorkloadAsync(image.Name, start with { Mounts = [.. start.Mounts, .. storage.Mounts], Files = [.. start.Files, .. files] }, options.StartTimeout, options.Log, timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                await guest.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        options.Log?.Invoke($"{image.Name}: {(restore ? "restored" : "booted")} in {clock.Elapsed.TotalMilliseconds:F0} ms ({guest.Machine.Accelerator.ToString().ToLowerInvariant()}: {guest.Machine.AcceleratorReason})");
        return new MicroVm(image, guest, restore, clock.Elapsed, options.HostPorts ?? [], storage.Keep());
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
    private static bool WantsNat(MicroVmImage image, string? network, VmSnapshotInfo? snapshot)
    {
        string? mode = MicroVmImageRequest.NetworkMode(image.Name, "Network", network);
        if (snapshot is null)
        {
            return mode is null;
        }
        if (mode is not null && snapshot.Nat)
        {
            throw Errors.SnapshotNetworkMismatch(image.Name, "the NAT network", "--network none");
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
        }
    }

    private static int NonZero(int value, int fallback) => value > 0 ? value : fallback;
}
