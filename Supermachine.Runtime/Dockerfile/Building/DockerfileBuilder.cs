using System.Diagnostics;
using System.Text.Json;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Context;
using Supermachine.Dockerfile.Planning;
using Supermachine.FileSystem;
using Supermachine.Guest;
using Supermachine.Oci;
using Supermachine.Oci.Locking;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;
using Supermachine.Oci.Registry;
using Supermachine.Oci.Storage;
using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;

namespace Supermachine.Dockerfile.Building;

/// <summary>A Dockerfile build: the context, the Dockerfile and what docker build's options say.</summary>
internal sealed record DockerfileBuildRequest
{
    /// <summary>The build context directory.</summary>
    public required string ContextDirectory { get; init; }

    /// <summary>The Dockerfile; null is <c>CONTEXT/Dockerfile</c>.</summary>
    public string? DockerfilePath { get; init; }

    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary>The stage to build; null builds the last.</summary>
    public string? Target { get; init; }

    /// <summary>os/arch[/variant]; null is the host's.</summary>
    public string? Platform { get; init; }
}

/// <summary>How <see cref="DockerfileBuilder"/> builds. The defaults need no configuration.</summary>
internal sealed class DockerfileBuildOptions
{
    public IVmBackend? Backend { get; init; }

    public Accelerator? Accelerator { get; init; }

    /// <summary>Content store root (also holds the step cache); null is SUPERMACHINE_CACHE or ~/.cache/supermachine.</summary>
    public string? CacheDirectory { get; init; }

    public RegistryOptions? Registry { get; init; }

    /// <summary>Locked digests for FROM images, recording new resolutions.</summary>
    public ImageLockFile? LockFile { get; init; }

    public bool RefreshLock { get; init; }

    /// <summary>RAM of the build VM.</summary>
    public int MemoryMiB { get; init; } = 1024;

    /// <summary>The build VM's writable disk, which holds everything RUN writes (sparse: costs only what is written).</summary>
    public int DiskMiB { get; init; } = Vmm.VmMachineSpec.DefaultDiskMiB;

    public int Vcpus { get; init; } = 2;

    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>
    /// RUN steps have outbound network (a NIC behind the user-mode NAT), as in Docker; false gives
    /// build VMs no NIC. Like BuildKit's, the step cache key ignores it.
    /// </summary>
    public bool Network { get; init; } = true;

    /// <summary>Snapshot the target stage's build VM once its last RUN is done and report its size (the density check); off by default.</summary>
    public bool MeasureBuildVmSnapshot { get; init; }

    /// <summary>Step lines and the output of RUN commands.</summary>
    public Action<string>? Progress { get; init; }
}

/// <summary>What a build produced.</summary>
/// <param name="Image">The built image, in the content store like a pulled one: it bakes like any other.</param>
/// <param name="ExecutedSteps">Steps that ran.</param>
/// <param name="CachedSteps">Steps taken from the step cache.</param>
/// <param name="VmBoots">Build VMs booted (0 for a fully cached rebuild).</param>
/// <param name="BuildVmSnapshot">With <see cref="DockerfileBuildOptions.MeasureBuildVmSnapshot"/>: the size of the target stage's build VM RAM snapshot.</param>
/// <param name="UnusedBuildArgs">Build arguments no ARG consumed.</param>
internal sealed record DockerfileBuildResult(PulledImage Image, int ExecutedSteps, int CachedSteps, int VmBoots, SnapshotSize? BuildVmSnapshot, IReadOnlyList<string> UnusedBuildArgs);

/// <summary>
/// Builds a Dockerfile in microVMs: plan (BuildKit's rules), run the steps that are not cached
/// (<see cref="VmStepExecutor"/>), and write the result as an OCI image into the content store:
/// the base image's layers plus one layer per changing step, and a config from the Dockerfile.
/// Baking it then commits all layers into one read-only squashfs, like a pulled image's.
/// </summary>
internal static class DockerfileBuilder
{
    public static async Task<DockerfileBuildResult> BuildAsync(DockerfileBuildRequest request, DockerfileBuildOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        options ??= new DockerfileBuildOptions();
        Action<string> progress = options.Progress ?? (_ => { });
        string contextDirectory = Path.GetFullPath(request.ContextDirectory);
        if (!Directory.Exists(contextDirectory))
        {
            throw Errors.BuildContextNotADirectory(contextDirectory);
        }
        string dockerfilePath = Path.GetFullPath(request.DockerfilePath ?? Path.Combine(contextDirectory, "Dockerfile"));
        var clock = Stopwatch.StartNew();

        var store = new ContentStore(options.CacheDirectory);
        ScratchFiles.DeleteOrphans(store.Layout.Dockerfile("rootfs"), "rootfs");
        ScratchFiles.DeleteOrphans(store.Layout.Dockerfile("tmp"), "snapshot", "add");
        using var registry = new RegistryClient(options.Registry ?? RegistryOptions.FromEnvironment());
        var puller = new ImagePuller(store, registry);
        Platform platform = request.Platform is { } p ? Platform.Parse(p) : Platform.Host;
        var baseImages = new BaseImages(puller, fromPlatform => new PullOptions
        {
            Platform = fromPlatform is null ? platform : Platform.Parse(fromPlatform),
            LockFile = options.LockFile,
            RefreshLock = options.RefreshLock,
        });

        BuildPlan plan = await BuildPlanner.PlanFileAsync(dockerfilePath, new BuildOptions
        {
            BuildArgs = request.BuildArgs,
            Target = request.Target,
            Platform = platform.ToString(),
        }, baseImages, cancellationToken).ConfigureAwait(false);
        var context = BuildContextDirectory.Open(contextDirectory, dockerfilePath);

        IVmBackend backend = options.Backend ?? new QemuBackend(new QemuBackendOptions());
        // Guest assets and the accelerator are settled by the first RUN: a build without one needs no VM.
        var vmSettings = new Lazy<BuildVmSettings>(() => VmSettings(backend, store, options, GuestArchitecture.FromPlatform(platform.Architecture, dockerfilePath)));
        string dockerfileName = Path.GetFileName(dockerfilePath);
        BuildResult result;
        int boots;
        SnapshotSize? snapshot;
        await using (var executor = new VmStepExecutor(store, baseImages, context, dockerfileName, vmSettings, plan.TargetIndex, progress))
        {
            result = await new BuildRunner(executor, baseImages, context).RunAsync(plan, cancellationToken).ConfigureAwait(false);
            boots = executor.VmBoots;
            snapshot = executor.BuildVmSnapshot;
        }
        PulledImage image = await WriteImageAsync(store, new StepResultStore(store).TryGet(result.TargetKey)!, result.Config, platform, dockerfilePath, cancellationToken).ConfigureAwait(false);
        progress($"built {image.ManifestDigest[..19]} in {clock.Elapsed.TotalSeconds:F1} s ({result.ExecutedSteps} steps run, {result.CachedSteps} cached, {boots} build VMs)");
        return new DockerfileBuildResult(image, result.ExecutedSteps, result.CachedSteps, boots, snapshot, plan.UnusedBuildArgs);
    }

    /// <summary>The build VMs run the target platform's instruction set: RUN executes the image's own binaries.</summary>
    private static BuildVmSettings VmSettings(IVmBackend backend, ContentStore store, DockerfileBuildOptions options, GuestArchitecture architecture)
    {
        GuestAssets assets = GuestAssets.Locate(architecture);
        string initrd = InitramfsBuilder.EnsureCached(store.Layout.Dockerfile("guest"), assets);
        AcceleratorChoice accelerator = backend.ChooseAccelerator(options.Accelerator, architecture);
        return new BuildVmSettings(backend, architecture, assets.KernelPath, initrd, options.MemoryMiB, options.Vcpus, options.DiskMiB, accelerator.Accelerator, options.BootTimeout, options.MeasureBuildVmSnapshot, options.Network);
    }

    private static async Task<PulledImage> WriteImageAsync(ContentStore store, LayerChain chain, Planning.ImageConfig config, Platform platform, string dockerfilePath, CancellationToken cancellationToken)
    {
        var configFile = new ImageConfigFile
        {
            Architecture = platform.Architecture,
            OS = platform.OS,
            Variant = platform.Variant,
            Config = BaseImages.ToOci(config),
            RootFs = new ImageConfigFile.RootFsSection { Type = "layers", DiffIds = chain.Layers.Select(l => l.DiffId).ToList() },
        };
        byte[] configBytes = JsonSerializer.SerializeToUtf8Bytes(configFile, OciJson.Options);
        string configDigest = OciDigest.Compute(configBytes);
        await store.PutAsync(configBytes, cancellationToken).ConfigureAwait(false);
        var layers = chain.Layers.Select(l => new Descriptor { MediaType = l.MediaType, Digest = l.Digest, Size = l.Size }).ToList();
        var manifest = new ImageManifest
        {
            SchemaVersion = 2,
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor { MediaType = MediaTypes.OciConfig, Digest = configDigest, Size = configBytes.Length },
            Layers = layers,
        };
        byte[] manifestBytes = JsonSerializer.SerializeToUtf8Bytes(manifest, OciJson.Options);
        string manifestDigest = OciDigest.Compute(manifestBytes);
        await store.PutAsync(manifestBytes, cancellationToken).ConfigureAwait(false);
        return new PulledImage
        {
            Source = "dockerfile:" + dockerfilePath,
            ManifestDigest = manifestDigest,
            Platform = platform,
            Manifest = manifest,
            ConfigDigest = configDigest,
            Config = configFile,
            Layers = layers.Select(d => new PulledLayer(d, store.GetBlobPath(d.Digest))).ToList(),
        };
    }
}
