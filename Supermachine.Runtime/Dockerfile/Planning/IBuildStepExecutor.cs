namespace Supermachine.Dockerfile.Planning;

/// <summary>What a stage starts from when the executor begins it.</summary>
/// <param name="Base">The stage's FROM.</param>
/// <param name="ResumeFromKey">
/// Null to start from <paramref name="Base"/>; otherwise the cache key of the last step already
/// done (the executor restores that result instead of re-running the steps before it).
/// </param>
/// <param name="BaseStageResultKey">For a stage base: the final key of that stage's result.</param>
internal sealed record StageStart(StageBase Base, string? ResumeFromKey, string? BaseStageResultKey);

/// <summary>Everything an executor needs besides the step itself.</summary>
/// <param name="Stage">The stage the step belongs to.</param>
/// <param name="CacheKey">The step's key: store the result under it.</param>
/// <param name="StageResultKeys">Final keys of the stages finished so far (for COPY --from=stage), by index.</param>
internal sealed record StepExecution(PlannedStage Stage, string CacheKey, IReadOnlyDictionary<int, string> StageResultKeys);

/// <summary>
/// The seam between the planner and whatever changes filesystems. The in-VM builder implements it:
/// a stage boots (or restores) a VM on its base, RUN executes through the agent, COPY/ADD writes
/// files, and each step's result is kept under its cache key so a rebuild with the same keys
/// starts no VM. <see cref="BuildRunner"/> drives it.
/// </summary>
internal interface IBuildStepExecutor
{
    /// <summary>True when a result is stored under <paramref name="cacheKey"/> (from this or an earlier build).</summary>
    ValueTask<bool> HasResultAsync(string cacheKey, CancellationToken cancellationToken);

    /// <summary>Prepares the stage's filesystem (called only when at least one step must run).</summary>
    ValueTask BeginStageAsync(PlannedStage stage, StageStart start, CancellationToken cancellationToken);

    ValueTask RunAsync(RunStep step, StepExecution execution, CancellationToken cancellationToken);

    ValueTask CopyAsync(CopyStep step, StepExecution execution, CancellationToken cancellationToken);

    ValueTask CreateWorkdirAsync(WorkdirStep step, StepExecution execution, CancellationToken cancellationToken);

    /// <summary>Finishes the stage (commit); the result is addressed by <paramref name="resultKey"/>.</summary>
    ValueTask EndStageAsync(PlannedStage stage, string resultKey, CancellationToken cancellationToken);
}
