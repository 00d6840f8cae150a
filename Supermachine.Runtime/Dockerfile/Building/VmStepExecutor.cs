using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Context;
using Supermachine.Dockerfile.Planning;
using Supermachine.FileSystem;
using Supermachine.Oci.Layers;
using Supermachine.Oci.Storage;
using Supermachine.Vmm;

namespace Supermachine.Dockerfile.Building;

/// <summary>How the executor boots build VMs.</summary>
internal sealed record BuildVmSettings(IVmBackend Backend, GuestArchitecture Architecture, string KernelPath, string InitrdPath, int MemoryMiB, int Vcpus, int DiskMiB, Accelerator Accelerator, TimeSpan BootTimeout, bool Snapshottable, bool Network);

/// <summary>
/// The in-VM builder behind <see cref="BuildRunner"/>. A stage's state is a <see cref="LayerChain"/>.
/// RUN boots a build VM on the state (once; consecutive RUNs share it), executes through the agent
/// and takes the VM's changes as the step's layer. COPY, ADD and WORKDIR are done on the host as a
/// layer of their own (they need no VM; a running VM no longer matches the state afterwards, so it
/// is stopped and the next RUN boots on the new state). Every step's chain is stored under its
/// cache key, so a rebuild with the same keys never gets here.
/// </summary>
internal sealed class VmStepExecutor(
    ContentStore store,
    BaseImages baseImages,
    BuildContextDirectory context,
    string dockerfile,
    Lazy<BuildVmSettings> vmSettings,
    int targetStage,
    Action<string> progress) : IBuildStepExecutor, IAsyncDisposable
{
    private readonly StepResultStore _steps = new(store);
    private readonly RootfsImages _rootfs = new(store, progress);
    private readonly Dictionary<string, FilesystemView> _views = new(StringComparer.Ordinal);
    private LayerChain _chain = LayerChain.Empty;
    private BuildVm? _vm;

    /// <summary>Build VMs booted so far.</summary>
    public int VmBoots { get; private set; }

    /// <summary>On-disk size of the target stage's build VM RAM snapshot, when the settings ask for it and a VM ran in that stage.</summary>
    public SnapshotSize? BuildVmSnapshot { get; private set; }

    public ValueTask<bool> HasResultAsync(string cacheKey, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_steps.TryGet(cacheKey) is not null);

    public async ValueTask BeginStageAsync(PlannedStage stage, StageStart start, CancellationToken cancellationToken)
    {
        await StopVmAsync().ConfigureAwait(false);
        progress($"stage {StageName(stage)}");
        _chain = start.ResumeFromKey is { } resume ? Stored(resume)
            : start.Base switch
            {
                StageBase.Image image => await baseImages.GetChainAsync(image.Reference, image.Platform, cancellationToken).ConfigureAwait(false),
                StageBase.Stage => Stored(start.BaseStageResultKey!),
                _ => LayerChain.Empty,
            };
    }

    public async ValueTask RunAsync(RunStep step, StepExecution execution, CancellationToken cancellationToken)
    {
        Announce(step);
        if (_vm is null)
        {
            BuildVmSettings vm = vmSettings.Value;
            string rootfs = await _rootfs.GetAsync(_chain, cancellationToken).ConfigureAwait(false);
            progress($"booting a build VM ({vm.Accelerator.ToString().ToLowerInvariant()})");
            _vm = await BuildVm.BootAsync(vm.Backend, new VmMachineSpec
            {
                Architecture = vm.Architecture,
                KernelPath = vm.KernelPath,
                InitrdPath = vm.InitrdPath,
                RootfsPath = rootfs,
                MemoryMiB = vm.MemoryMiB,
                Vcpus = vm.Vcpus,
                DiskMiB = vm.DiskMiB,
                Accelerator = vm.Accelerator,
                Snapshottable = vm.Snapshottable,
                Nat = vm.Network,
            }, _chain, vm.BootTimeout, cancellationToken).ConfigureAwait(false);
            VmBoots++;
        }
        RunOutcome outcome;
        try
        {
            outcome = await _vm.RunAsync(step, line => progress("  " + line), cancellationToken).ConfigureAwait(false);
        }
        catch (SupermachineException e) when (e.Area == DiagnosticArea.Guest)
        {
            throw Errors.RunStepCouldNotStart(dockerfile, step.Instruction.Line, Describe(step), e.Message, cause: e);
        }
        if (outcome.Exit.ExitCode != 0 || outcome.Exit.Signal is not null)
        {
            string how = outcome.Exit.Signal is int signal ? $"was killed by signal {signal}" : $"failed with exit code {outcome.Exit.ExitCode}";
            throw Errors.RunStepFailed(dockerfile, step.Instruction.Line, Describe(step), how, outcome.OutputTail.TrimEnd());
        }
        ChainLayer changes = await LayerBlobs.ImportAsync(store, _vm.ExportChangesAsync, cancellationToken).ConfigureAwait(false);
        _chain = _vm.BootChain.Append(changes);
        _steps.Put(execution.CacheKey, _chain);
    }

    public async ValueTask CopyAsync(CopyStep step, StepExecution execution, CancellationToken cancellationToken)
    {
        Announce(step);
        FilesystemView target = await ViewAsync(_chain, withContent: false, cancellationToken).ConfigureAwait(false);
        CopySourceTree sources = step.From switch
        {
            CopySource.StageResult s => new(null, await ViewAsync(Stored(execution.StageResultKeys[s.StageIndex]), withContent: true, cancellationToken).ConfigureAwait(false)),
            CopySource.Image i => new(null, await ViewAsync(await baseImages.GetChainAsync(i.Reference, null, cancellationToken).ConfigureAwait(false), withContent: true, cancellationToken).ConfigureAwait(false)),
            _ => new(context, null),
        };
        ChainLayer layer = await LayerBlobs.WriteAsync(store, CopyLayerBuilder.BuildAsync(step, sources, target, dockerfile, store.Layout.Dockerfile("tmp"), cancellationToken), cancellationToken).ConfigureAwait(false);
        await AppendHostLayerAsync(layer, execution.CacheKey).ConfigureAwait(false);
    }

    public async ValueTask CreateWorkdirAsync(WorkdirStep step, StepExecution execution, CancellationToken cancellationToken)
    {
        FilesystemView target = await ViewAsync(_chain, withContent: false, cancellationToken).ConfigureAwait(false);
        string path = target.Resolve(step.Path.TrimStart('/'));
        if (target.IsDirectory(path))
        {
            _steps.Put(execution.CacheKey, _chain);
            return;
        }
        Announce(step);
        // Created like a COPY destination: every missing component, 0755, owned by the stage's user.
        var layer = new LayerEntries(target, UserDatabase.ResolveUser(step.User, target, dockerfile, step.Instruction.Line));
        layer.Directory(path, null);
        ChainLayer created = await LayerBlobs.WriteAsync(store, layer.Entries.ToAsyncEnumerable(), cancellationToken).ConfigureAwait(false);
        await AppendHostLayerAsync(created, execution.CacheKey).ConfigureAwait(false);
    }

    public async ValueTask EndStageAsync(PlannedStage stage, string resultKey, CancellationToken cancellationToken)
    {
        _steps.Put(resultKey, _chain);
        if (stage.Index == targetStage && _vm is not null && vmSettings.Value.Snapshottable)
        {
            // The density report: what the build VM's RAM would cost as an artifact (it never is one).
            string directory = Path.Combine(store.Root, "dockerfile", "tmp", ScratchFiles.Name("snapshot", Guid.NewGuid().ToString("N")));
            try
            {
                progress("measuring the build VM's RAM snapshot");
                BuildVmSnapshot = await _vm.MeasureSnapshotAsync(directory, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
            }
        }
        await StopVmAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopVmAsync().ConfigureAwait(false);
        foreach (FilesystemView view in _views.Values)
        {
            view.Dispose();
        }
        _views.Clear();
        _rootfs.Dispose();
    }

    private async Task AppendHostLayerAsync(ChainLayer layer, string cacheKey)
    {
        await StopVmAsync().ConfigureAwait(false);
        _chain = _chain.Append(layer);
        _steps.Put(cacheKey, _chain);
    }

    // A COPY source needs file contents (its squashfs image); a target only needs what exists where.
    private async Task<FilesystemView> ViewAsync(LayerChain chain, bool withContent, CancellationToken cancellationToken)
    {
        string key = chain.Id + (withContent ? "+content" : "");
        if (!_views.TryGetValue(key, out FilesystemView? view))
        {
            view = withContent
                ? FilesystemView.Open(await _rootfs.GetAsync(chain, cancellationToken).ConfigureAwait(false))
                : await FilesystemView.ReadMetadataAsync(new LayerFlattener(chain.ToLayerInputs(store), "the build state").FlattenAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
            _views[key] = view;
        }
        return view;
    }

    private LayerChain Stored(string key) =>
        _steps.TryGet(key) ?? throw new InvalidOperationException($"The step result {key} vanished from the cache during the build.");

    private async Task StopVmAsync()
    {
        if (_vm is not null)
        {
            BuildVm stopping = _vm;
            _vm = null;
            await stopping.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Announce(BuildStep step) => progress($"{dockerfile}:{step.Instruction.Line} {Describe(step)}");

    private static string Describe(BuildStep step)
    {
        string text = step.Instruction.Original.Trim();
        return text.Length > 120 ? text[..117] + "..." : text;
    }

    private static string StageName(PlannedStage stage) => stage.Stage.Name ?? stage.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
