using System.Runtime.InteropServices;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Instructions;

namespace Supermachine.Dockerfile.Planning;

/// <summary>What a build is asked for: build arguments, target stage and platform.</summary>
internal sealed record BuildOptions
{
    /// <summary><c>--build-arg</c> values by name.</summary>
    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary>The stage to build; null builds the last stage.</summary>
    public string? Target { get; init; }

    /// <summary>Target platform as <c>os/arch[/variant]</c>; null is the host's (linux/ARCH).</summary>
    public string? Platform { get; init; }

    /// <summary>
    /// Parses <c>NAME=VALUE</c> items (the CLI's --build-arg and the BuildArgs metadata, ';'-separated).
    /// A bare <c>NAME</c> takes the value of the environment variable NAME and is skipped when it is unset, as docker build does.
    /// </summary>
    /// <exception cref="SupermachineException">SM2209 for an item without a name.</exception>
    public static Dictionary<string, string> ParseBuildArgs(IEnumerable<string> items, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string item in items)
        {
            if (item.Length == 0)
            {
                continue;
            }
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            string name = eq < 0 ? item : item[..eq];
            if (name.Trim().Length == 0 || name.Trim() != name)
            {
                throw Errors.InvalidBuildArg(item);
            }
            if (eq >= 0)
            {
                result[name] = item[(eq + 1)..];
            }
            else if (environment(name) is { } fromEnvironment)
            {
                result[name] = fromEnvironment;
            }
        }
        return result;
    }

    internal static string HostPlatform() => "linux/" + RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "arm/v7",
        Architecture.X86 => "386",
        Architecture.RiscV64 => "riscv64",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64le",
        _ => RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
    };
}

/// <summary>Where a stage starts from.</summary>
internal abstract record StageBase
{
    private StageBase()
    {
    }

    /// <summary><c>FROM scratch</c>: an empty filesystem and config.</summary>
    public sealed record Scratch : StageBase;

    /// <summary>An image reference, resolved by the OCI client.</summary>
    public sealed record Image(string Reference, string? Platform) : StageBase;

    /// <summary>An earlier stage of the same Dockerfile.</summary>
    public sealed record Stage(int StageIndex) : StageBase;
}

/// <summary>One stage of the plan: where it starts, the steps to execute and the config it ends with.</summary>
internal sealed record PlannedStage
{
    public required Stage Stage { get; init; }

    public required StageBase Base { get; init; }

    /// <summary>Stages this one needs first (its base stage and COPY --from / RUN --mount from= stages), by index.</summary>
    public required IReadOnlyList<int> Dependencies { get; init; }

    /// <summary>False for stages the target does not need: they are not planned further and never run.</summary>
    public required bool Required { get; init; }

    /// <summary>The filesystem steps, in order (empty for skipped stages).</summary>
    public IReadOnlyList<BuildStep> Steps { get; init; } = [];

    /// <summary>The image config after the last instruction (null for skipped stages).</summary>
    public ImageConfig? Config { get; init; }

    /// <summary>ARG values in scope at the end of the stage (visible to RUN, not stored in the image).</summary>
    public IReadOnlyDictionary<string, string> Args { get; init; } = new Dictionary<string, string>();

    public int Index => Stage.Index;
}

/// <summary>
/// A Dockerfile build worked out without running anything: which stages run in which order, the
/// steps each executes, and the image config of every required stage.
/// </summary>
internal sealed record BuildPlan
{
    public required DockerfileInstructions Dockerfile { get; init; }

    /// <summary>Every stage of the Dockerfile, in file order (skipped ones included, with <see cref="PlannedStage.Required"/> false).</summary>
    public required IReadOnlyList<PlannedStage> Stages { get; init; }

    /// <summary>Index of the stage the build produces.</summary>
    public required int TargetIndex { get; init; }

    /// <summary>Required stages in an order where every stage comes after its dependencies.</summary>
    public required IReadOnlyList<int> ExecutionOrder { get; init; }

    /// <summary>Global ARG values (before the first FROM, plus the platform ARGs).</summary>
    public required IReadOnlyDictionary<string, string> GlobalArgs { get; init; }

    /// <summary>Build arguments no ARG consumed (docker build warns about these).</summary>
    public required IReadOnlyList<string> UnusedBuildArgs { get; init; }

    public PlannedStage Target => Stages[TargetIndex];
}
