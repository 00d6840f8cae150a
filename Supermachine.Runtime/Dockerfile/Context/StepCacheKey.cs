using System.Security.Cryptography;
using System.Text;
using Supermachine.Dockerfile.Planning;

namespace Supermachine.Dockerfile.Context;

/// <summary>
/// Step cache keys. A key is
/// <c>sha256( "supermachine-dockerfile-step/1" LF parent LF step.CacheText LF inputs )</c>
/// where <c>parent</c> is the previous step's key (or the stage's base key), <c>CacheText</c> is
/// the step after variable expansion with every field that changes its result (argv, env incl.
/// ARG values, user, workdir, network, mounts; or sources, destination, ownership, mode), and
/// <c>inputs</c> is the digest of what the step reads from outside the chain: the selected
/// build-context files for COPY/ADD from the context, the result key of the source stage for
/// COPY --from=stage, the image digest for COPY --from=image. A base key is
/// <c>sha256( "supermachine-dockerfile-base/1" LF kind LF identity LF platform )</c> with the
/// resolved image digest, the base stage's final key, or "scratch".
/// So the same parent + same expanded instruction + same inputs give the same key, and changing
/// a context file, a build argument the step sees, or anything before it gives a new one.
/// </summary>
internal static class StepCacheKey
{
    public static string Compute(string parentKey, BuildStep step, string? inputsDigest) =>
        Hash("supermachine-dockerfile-step/1", parentKey, step.CacheText, inputsDigest ?? "");

    /// <summary>The key a stage starts from.</summary>
    /// <param name="stageBase">Where the stage starts.</param>
    /// <param name="identity">The resolved image manifest digest (image bases) or the base stage's final key (stage bases); ignored for scratch.</param>
    /// <param name="platform">The target platform.</param>
    public static string ForBase(StageBase stageBase, string? identity, string platform) => stageBase switch
    {
        StageBase.Scratch => Hash("supermachine-dockerfile-base/1", "scratch", "", platform),
        StageBase.Image => Hash("supermachine-dockerfile-base/1", "image", identity ?? throw new ArgumentNullException(nameof(identity)), platform),
        StageBase.Stage => Hash("supermachine-dockerfile-base/1", "stage", identity ?? throw new ArgumentNullException(nameof(identity)), platform),
        _ => throw new ArgumentOutOfRangeException(nameof(stageBase)),
    };

    private static string Hash(params string[] parts)
    {
        string text = string.Join('\n', parts);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
