using System.Diagnostics;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Building;
using Supermachine.Guest;
using Supermachine.Oci;
using Supermachine.Oci.Layers;
using Supermachine.Oci.Locking;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.Registry;
using Supermachine.Oci.Storage;
using Supermachine.Squashfs;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;
using Supermachine.Images;
using Supermachine.Locations;

namespace Supermachine.Bake;

/// <summary>How <see cref="ImageBaker"/> bakes. The defaults need no configuration.</summary>
internal sealed class BakeOptions
{
    /// <summary>The engine; null uses QEMU.</summary>
    public IVmBackend? Backend { get; init; }

    /// <summary>Accelerator to bake with; null measures (SUPERMACHINE_ACCELERATOR overrides).</summary>
    public Accelerator? Accelerator { get; init; }

    /// <summary>Content store root; null is SUPERMACHINE_CACHE or ~/.cache/supermachine.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Registry settings; null reads SUPERMACHINE_REGISTRY_MIRRORS and SUPERMACHINE_INSECURE_REGISTRIES.</summary>
    public RegistryOptions? Registry { get; init; }

    /// <summary>Locked digests to pull by, recording new resolutions (the SDK's microvms.lock.json).</summary>
    public ImageLockFile? LockFile { get; init; }

    public bool RefreshLock { get; init; }

    /// <summary>Take the RAM snapshot; false leaves a cold-bootable image (rootfs, kernel, initramfs, manifest).</summary>
    public bool Snapshot { get; init; } = true;

    /// <summary>How long the guest may take to boot until its agent answers (emulated guests are slow).</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>How long the workload may take, once started, to listen on its port.</summary>
    public TimeSpan ReadyTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Reuse and fill the shared bake cache (CACHE/bakes) keyed by fingerprint.</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Coded warnings ("SM4xxx: ..."), e.g. a cached image from another engine that is re-baked.</summary>
    public Action<string>? Warning { get; init; }

    /// <summary>Phase lines a person watches: pulling x/y MiB, writing rootfs, booting, waiting, snapshotting.</summary>
    public Action<string>? Progress { get; init; }

    /// <summary>Detail lines for verbose logs (accelerator reason, timings per phase).</summary>
    public Action<string>? Detail { get; init; }
}

/// <summary>
/// The bake: pull (or read a local source), flatten the layers straight into a squashfs, boot the
/// guest once, start the workload, wait until it is ready, snapshot, and commit the directory in
/// one rename. A failure or cancellation at any step leaves no directory behind.
/// </summary>
internal static class ImageBaker
{
    public static async Task<StoredImage> BakeAsync(MicroVmImageRequest request, string outputDirectory, BakeOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        options ??= new BakeOptions();
        Action<string> progress = options.Progress ?? (_ => { });
        Action<string> detail = options.Detail ?? (_ => { });
        string destination = Path.GetFullPath(outputDirectory);
        var clock = new BakePhaseClock();
        // Before any work: the destination is replaced at the end, so it must be ours to replace.
        if (request.Dockerfile is not null && request.WithFullPaths(Environment.CurrentDirectory).Context is string context)
        {
            SnapshotDestination.EnsureOutsideContext(destination, context);
        }
        SnapshotDestination.EnsureReplaceable(destination);
        IVmBackend backend = options.Backend ?? new QemuBackend(new QemuBackendOptions { Log = detail });

        // Everything the fingerprint needs comes first and is cheap: a locked pull of a cached image
        // reads only the manifest, and the guest files are hashed, not booted.
        PulledImage pulled = request.Dockerfile is not null
            ? await BuildAsync(request, backend, options, progress, cancellationToken).ConfigureAwait(false)
            : await PullAsync(request, options, progress, cancellationToken).ConfigureAwait(false);
        clock.End(request.Dockerfile is not null ? "build" : "pull");
        detail($"image {pulled.ManifestDigest} ({pulled.Layers.Count} layers) in {clock.Elapsed.TotalMilliseconds:F0} ms");
        // The image's platform is the guest's: an arm64 image boots an arm64 kernel, never an x86 one.
        GuestArchitecture architecture = GuestArchitecture.FromPlatform(pulled.Platform.Architecture, request.Name);
        if (!architecture.IsHost)
        {
            options.Warning?.Invoke(Warnings.ForeignGuestEmulated(request.Name, architecture.Platform, GuestArchitecture.Host.Platform));
        }
        GuestAssets assets = GuestAssets.Locate(architecture);
        byte[] initramfs = BuildInitramfs(assets);
        var assetHashes = new Dictionary<string, string>
        {
            ["kernel"] = await SnapshotDirectory.HashFileAsync(assets.KernelPath, cancellationToken).ConfigureAwait(false),
            ["initramfs"] = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(initramfs)),
            ["agent"] = await SnapshotDirectory.HashFileAsync(assets.AgentPath, cancellationToken).ConfigureAwait(false),
        };
        AcceleratorChoice accelerator = backend.ChooseAccelerator(options.Accelerator, architecture);
        detail($"accelerator {accelerator}");
        string acceleratorName = accelerator.Accelerator.ToString().ToLowerInvariant();
        string fingerprint = BakeFingerprint.Compute(new BakeInputs
        {
            Request = request,
            ImageDigest = pulled.ManifestDigest,
            Platform = pulled.Platform.ToString(),
            GuestArchitecture = architecture.Name,
            MemoryMiB = request.MemoryMiB ?? 256,
            Vcpus = request.Vcpus ?? 1,
            DiskMiB = request.DiskMiB ?? VmMachineSpec.DefaultDiskMiB,
            EngineName = backend.Name,
            EngineVersion = backend.GetVersion(architecture),
            Accelerator = acceleratorName,
            AssetHashes = assetHashes,
        });

        // 1. The output already holds this very bake, intact (cheap while its verification stamp holds).
        string? foreign = null;
        if (TryLoad(destination) is { } existing)
        {
            if (existing.Manifest.Fingerprint == fingerprint && existing.Manifest.HasSnapshot == options.Snapshot)
            {
                try
                {
                    await SnapshotDirectory.VerifyUnlessStampedAsync(destination, existing.Manifest, CacheLayout.At(options.CacheDirectory).VerificationStamps, cancellationToken).ConfigureAwait(false);
                    progress($"{request.Name}: up to date");
                    return existing;
                }
                catch (SupermachineException e)
                {
                    options.Warning?.Invoke(Warnings.OutputImageDamaged(destination, e.Message));
                }
            }
            foreign = existing.FindSnapshotMismatch(backend, options.Accelerator);
        }

        // 2. The shared cache: another project, an earlier build or a restored CI cache baked it.
        BakeCache? cache = options.UseCache && options.Snapshot ? new BakeCache(options.CacheDirectory) : null;
        FileStream? entryLock = cache is null ? null : await FileLock.AcquireAsync(cache.PathFor(fingerprint) + ".lock", cancellationToken).ConfigureAwait(false);
        try
        {
            if (cache is not null && await cache.TryGetAsync(fingerprint, options.Warning, cancellationToken).ConfigureAwait(false) is { } hit)
            {
                BakeCache.Materialize(hit.Directory, destination);
                progress($"{request.Name}: reused the cached bake {fingerprint[7..19]} ({clock.Elapsed.TotalSeconds:F1} s)");
                return StoredImage.Load(destination);
            }

            // 3. Bake, into the cache when there is one, then copy it into the output. A bake of the
            // same image by another engine (in the output, or in a cache restored from elsewhere)
            // cannot be used: say so.
            foreign ??= cache?.FindFromOtherEngine(request.Reference, backend, options.Accelerator);
            if (foreign is not null)
            {
                options.Warning?.Invoke(Warnings.RebakedForThisEngine(request.Name, foreign));
            }
            string target = cache?.PathFor(fingerprint) ?? destination;
            await BakeIntoAsync(request, target, pulled, architecture, assets, initramfs, assetHashes, fingerprint, accelerator, backend, options, clock, cancellationToken).ConfigureAwait(false);
            if (cache is not null)
            {
                BakeCache.Materialize(target, destination);
            }
            progress($"{request.Name}: {clock.Summary("baked")}");
            return StoredImage.Load(destination);
        }
        finally
        {
            if (entryLock is not null)
            {
                await entryLock.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task BakeIntoAsync(
        MicroVmImageRequest request,
        string destination,
        PulledImage pulled,
        GuestArchitecture architecture,
        GuestAssets assets,
        byte[] initramfs,
        IReadOnlyDictionary<string, string> assetHashes,
        string fingerprint,
        AcceleratorChoice accelerator,
        IVmBackend backend,
        BakeOptions options,
        BakePhaseClock clock,
        CancellationToken cancellationToken)
    {
        Action<string> progress = options.Progress ?? (_ => { });
        Action<string> detail = options.Detail ?? (_ => { });
        string staging = SnapshotDirectory.CreateStaging(destination);
        try
        {
            // Flatten straight into the root filesystem, no extracted tree.
            progress($"{request.Name}: writing the root filesystem");
            clock.Begin();
            var phase = Stopwatch.StartNew();
            var flattener = LayerFlattener.For(pulled, new LayerFlattenerOptions { Warning = m => progress("warning: " + m) });
            await SquashfsWriter.WriteAsync(flattener.FlattenAsync(cancellationToken), Path.Combine(staging, ArtifactLayout.Rootfs), null, cancellationToken).ConfigureAwait(false);
            detail($"rootfs {new FileInfo(Path.Combine(staging, ArtifactLayout.Rootfs)).Length / 1048576.0:F1} MiB in {phase.ElapsedMilliseconds} ms");
            clock.End("rootfs");

            // The guest it boots with travels with it: a snapshot only restores on its own kernel.
            File.Copy(assets.KernelPath, Path.Combine(staging, ArtifactLayout.Kernel));
            await File.WriteAllBytesAsync(Path.Combine(staging, ArtifactLayout.Initramfs), initramfs, cancellationToken).ConfigureAwait(false);

            WorkloadSpec workload = WorkloadResolver.Resolve(pulled.Config.Config, request);
            var workloadRecord = new SnapshotManifest.WorkloadRecord
            {
                Argv = workload.Arguments,
                Environment = workload.Environment,
                WorkingDirectory = workload.WorkingDirectory ?? "/",
                User = workload.User ?? "",
                Port = request.Port,
                Hostname = workload.Hostname,
                ShmMiB = workload.ShmMiB,
                StopSignal = WorkloadResolver.StopSignal(pulled.Config.Config, request),
                StopTimeout = request.StopTimeout ?? 10,
                Volumes = request.Volumes.Count == 0 ? null : request.Volumes.Select(v => v.ToString()).ToArray(),
                Mounts = request.Mounts.Count == 0 ? null : request.Mounts.Select(v => v.ToString()).ToArray(),
            };
            workloadRecord = await BakeWorkloadSettings.RecordAsync(workloadRecord, request, pulled.Config.Config, staging, cancellationToken).ConfigureAwait(false);
            var machineRecord = new SnapshotManifest.MachineRecord
            {
                MemoryMiB = request.MemoryMiB ?? 256,
                Vcpus = request.Vcpus ?? 1,
                DiskMiB = request.DiskMiB ?? VmMachineSpec.DefaultDiskMiB,
                Architecture = architecture.Name,
                KernelArguments = request.KernelArgs,
            };

            // Boot once, start the workload, wait until it is ready, snapshot.
            if (options.Snapshot)
            {
                progress($"{request.Name}: booting ({accelerator.Accelerator.ToString().ToLowerInvariant()})");
                phase.Restart();
                var spec = new VmMachineSpec
                {
                    Architecture = architecture,
                    KernelPath = Path.Combine(staging, ArtifactLayout.Kernel),
                    InitrdPath = Path.Combine(staging, ArtifactLayout.Initramfs),
                    RootfsPath = Path.Combine(staging, ArtifactLayout.Rootfs),
                    MemoryMiB = machineRecord.MemoryMiB,
                    Vcpus = machineRecord.Vcpus,
                    DiskMiB = machineRecord.DiskMiB,
                    Accelerator = accelerator.Accelerator,
                    Snapshottable = true,
                    Nat = request.Network != MicroVmImageRequest.NoNetwork,
                    KernelArguments = request.KernelArgs ?? "",
                    BakedVolumes = workloadRecord.BakedVolumes(machineRecord.DiskMiB),
                };
                // On a private network while baking (a warm-up that talks to a peer); restores get their own identity.
                await using NetworkAttachment? network = request.Network is string name && name != MicroVmImageRequest.NoNetwork
                    ? await NetworkAttachment.JoinAsync(name, request.Aliases, cancellationToken).ConfigureAwait(false)
                    : null;
                spec = spec with { PrivateSwitch = network?.SwitchSocket };
                await using GuestInstance guest = await GuestInstance.BootAsync(backend, spec, options.BootTimeout, cancellationToken).ConfigureAwait(false);
                detail($"agent up after {phase.ElapsedMilliseconds} ms");
                clock.End("boot");
                if (network is not null)
                {
                    await network.AttachAsync(guest.Agent, cancellationToken).ConfigureAwait(false);
                }
                await using HostPortRelay? hostPorts = request.HostPorts.Count > 0 ? HostPortRelay.Start(guest.Agent, request.HostPorts) : null;
                progress($"{request.Name}: {BakeWorkloadSettings.DescribeWait(workloadRecord)}");
                await guest.StartWorkloadAsync(request.Name, workloadRecord.ToStart(staging), options.ReadyTimeout, line => progress($"{request.Name}: {line}"), cancellationToken).ConfigureAwait(false);
                detail($"workload ready{(workloadRecord.Warmup is null ? "" : " and warm")} after {phase.ElapsedMilliseconds} ms");
                if (network is not null)
                {
                    // The snapshot leaves the bake's network: a restore joins its own, or none.
                    await network.DetachAsync(cancellationToken).ConfigureAwait(false);
                }
                clock.End(workloadRecord.Warmup is null ? "ready" : "ready+warmup");
                progress($"{request.Name}: snapshotting");
                VmSnapshotInfo info = await guest.Machine.SaveSnapshotAsync(Path.Combine(staging, ArtifactLayout.SnapshotDirectory), cancellationToken).ConfigureAwait(false);
                clock.End("snapshot");
                machineRecord = machineRecord with { MemoryMiB = info.MemoryMiB, Vcpus = info.Vcpus, DiskMiB = info.DiskMiB };
            }

            var manifest = new SnapshotManifest
            {
                Name = request.Name,
                Reference = request.Reference,
                ImageDigest = pulled.ManifestDigest,
                Workload = workloadRecord,
                Machine = machineRecord,
                Assets = assetHashes,
                Fingerprint = fingerprint,
                HasSnapshot = options.Snapshot,
                Files = [],
                CreatedBy = "supermachine " + typeof(ImageBaker).Assembly.GetName().Version,
                Connection = request.ConnectionFormat is string format
                    ? new SnapshotManifest.ConnectionRecord
                    {
                        Profile = request.Profile,
                        Port = request.Port,
                        Format = ImageProfiles.ResolveEnvironment(format, workload.Environment.Select(Pair).ToArray()),
                    }
                    : null,
            };
            await SnapshotDirectory.CommitAsync(staging, destination, manifest, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            SnapshotDirectory.DeleteIfPresent(staging);
        }
    }

    private static KeyValuePair<string, string> Pair(string variable)
    {
        int eq = variable.IndexOf('=');
        return eq < 0 ? new(variable, "") : new(variable[..eq], variable[(eq + 1)..]);
    }

    private static StoredImage? TryLoad(string directory)
    {
        try
        {
            return File.Exists(Path.Combine(directory, SnapshotManifest.FileName)) ? StoredImage.Load(directory) : null;
        }
        catch (SupermachineException)
        {
            return null;
        }
    }

    private static byte[] BuildInitramfs(GuestAssets assets)
    {
        var buffer = new MemoryStream();
        InitramfsBuilder.Write(buffer, assets);
        return buffer.ToArray();
    }

    // A Dockerfile image is built into the content store like a pulled one; the rest of the bake
    // (commit of all layers into one squashfs, boot, snapshot) is the same.
    private static async Task<PulledImage> BuildAsync(MicroVmImageRequest request, IVmBackend backend, BakeOptions options, Action<string> progress, CancellationToken cancellationToken)
    {
        // Callers normally pass absolute paths already (the SDK task, the command line); this keeps the defaults in one place.
        MicroVmImageRequest full = request.WithFullPaths(Environment.CurrentDirectory);
        progress($"{request.Name}: building {full.Dockerfile}");
        DockerfileBuildResult built = await DockerfileBuilder.BuildAsync(new DockerfileBuildRequest
        {
            DockerfilePath = full.Dockerfile,
            ContextDirectory = full.Context!,
            BuildArgs = request.BuildArgs.ToDictionary(StringComparer.Ordinal),
            Target = request.Target,
            Platform = request.Platform,
        }, new DockerfileBuildOptions
        {
            Backend = backend,
            Accelerator = options.Accelerator,
            CacheDirectory = options.CacheDirectory,
            Registry = options.Registry,
            LockFile = options.LockFile,
            RefreshLock = options.RefreshLock,
            BootTimeout = options.BootTimeout,
            Network = request.BuildNetwork is null,
            DiskMiB = request.DiskMiB ?? VmMachineSpec.DefaultDiskMiB,
            Progress = line => progress($"{request.Name}: {line}"),
        }, cancellationToken).ConfigureAwait(false);
        foreach (string unused in built.UnusedBuildArgs)
        {
            options.Warning?.Invoke(Warnings.UnusedBuildArg(request.Name, unused));
        }
        return built.Image;
    }

    private static async Task<PulledImage> PullAsync(MicroVmImageRequest request, BakeOptions options, Action<string> progress, CancellationToken cancellationToken)
    {
        using var registry = new RegistryClient(options.Registry ?? RegistryOptions.FromEnvironment());
        var puller = new ImagePuller(new ContentStore(options.CacheDirectory), registry);
        // No line of its own: the summary speaks only when layers must be downloaded, so a cache hit stays one line.
        var reporter = new PullProgressSummary(line => progress($"{request.Name}: {line}"), TimeSpan.FromSeconds(5));
        return await puller.PullAsync(request.Reference, new PullOptions
        {
            Platform = request.Platform is string p ? Platform.Parse(p) : null,
            LockFile = options.LockFile,
            RefreshLock = options.RefreshLock,
            Progress = reporter,
        }, cancellationToken).ConfigureAwait(false);
    }
}
