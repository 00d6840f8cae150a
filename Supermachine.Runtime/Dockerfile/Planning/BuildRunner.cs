using Supermachine.Dockerfile.Context;

namespace Supermachine.Dockerfile.Planning;

/// <summary>What a run did: the target's result key and config, and how many steps ran or were cached.</summary>
internal sealed record BuildResult(string TargetKey, ImageConfig Config, int ExecutedSteps, int CachedSteps, IReadOnlyDictionary<int, string> StageResultKeys);

/// <summary>Gives the digests a cache key needs from outside the Dockerfile: resolved base images.</summary>
internal interface IBuildInputs
{
    /// <summary>The resolved manifest digest of an image reference (FROM image, COPY --from=image).</summary>
    ValueTask<string> GetImageDigestAsync(string reference, string? platform, CancellationToken cancellationToken);
}

/// <summary>
/// Runs a <see cref="BuildPlan"/> through an <see cref="IBuildStepExecutor"/> with the step
/// cache: stages in dependency order, each step keyed by <see cref="StepCacheKey"/>; the longest
/// cached prefix of a stage is skipped, and a fully cached stage never reaches the executor.
/// </summary>
internal sealed class BuildRunner
{
    private readonly IBuildStepExecutor _executor;
    private readonly IBuildInputs _inputs;
    private readonly BuildContextDirectory _context;

    public BuildRunner(IBuildStepExecutor executor, IBuildInputs inputs, BuildContextDirectory context)
    {
        _executor = executor;
        _inputs = inputs;
        _context = context;
    }

    public async Task<BuildResult> RunAsync(BuildPlan plan, CancellationToken cancellationToken = default)
    {
        string platform = plan.GlobalArgs.TryGetValue("TARGETPLATFORM", out string? p) ? p : "";
        var results = new Dictionary<int, string>();
        int executed = 0;
        int cached = 0;
        foreach (int index in plan.ExecutionOrder)
        {
            PlannedStage stage = plan.Stages[index];
            string? baseStageKey = stage.Base is StageBase.Stage s ? results[s.StageIndex] : null;
            string baseKey = stage.Base switch
            {
                StageBase.Image image => StepCacheKey.ForBase(stage.Base, await _inputs.GetImageDigestAsync(image.Reference, image.Platform, cancellationToken).ConfigureAwait(false), image.Platform ?? platform),
                StageBase.Stage => StepCacheKey.ForBase(stage.Base, baseStageKey, platform),
                _ => StepCacheKey.ForBase(stage.Base, null, platform),
            };

            var keys = new List<string>(stage.Steps.Count);
            string parent = baseKey;
            foreach (BuildStep step in stage.Steps)
            {
                parent = StepCacheKey.Compute(parent, step, await InputsAsync(plan, step, results, cancellationToken).ConfigureAwait(false));
                keys.Add(parent);
            }

            int resumeAfter = -1;
            for (int i = keys.Count - 1; i >= 0; i--)
            {
                if (await _executor.HasResultAsync(keys[i], cancellationToken).ConfigureAwait(false))
                {
                    resumeAfter = i;
                    break;
                }
            }
            cached += resumeAfter + 1;
            string resultKey = keys.Count == 0 ? baseKey : keys[^1];
            if (resumeAfter < keys.Count - 1 || (keys.Count == 0 && !await _executor.HasResultAsync(resultKey, cancellationToken).ConfigureAwait(false)))
            {
                await _executor.BeginStageAsync(stage, new StageStart(stage.Base, resumeAfter >= 0 ? keys[resumeAfter] : null, baseStageKey), cancellationToken).ConfigureAwait(false);
                for (int i = resumeAfter + 1; i < keys.Count; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var execution = new StepExecution(stage, keys[i], results);
                    switch (stage.Steps[i])
                    {
                        case RunStep run:
                            await _executor.RunAsync(run, execution, cancellationToken).ConfigureAwait(false);
                            break;
                        case CopyStep copy:
                            await _executor.CopyAsync(copy, execution, cancellationToken).ConfigureAwait(false);
                            break;
                        case WorkdirStep workdir:
                            await _executor.CreateWorkdirAsync(workdir, execution, cancellationToken).ConfigureAwait(false);
                            break;
                    }
                    executed++;
                }
                await _executor.EndStageAsync(stage, resultKey, cancellationToken).ConfigureAwait(false);
            }
            results[index] = resultKey;
        }
        return new BuildResult(results[plan.TargetIndex], plan.Target.Config!, executed, cached, results);
    }

    private async ValueTask<string?> InputsAsync(BuildPlan plan, BuildStep step, Dictionary<int, string> results, CancellationToken cancellationToken)
    {
        if (step is not CopyStep copy)
        {
            return null;
        }
        return copy.From switch
        {
            CopySource.StageResult s => "stage:" + results[s.StageIndex],
            CopySource.Image image => "image:" + await _inputs.GetImageDigestAsync(image.Reference, null, cancellationToken).ConfigureAwait(false),
            _ => copy.Sources.Any(s => !BuildContextDirectory.IsRemote(s)) ? "context:" + _context.HashSources(copy, plan.Dockerfile.SourceName) : null,
        };
    }
}
