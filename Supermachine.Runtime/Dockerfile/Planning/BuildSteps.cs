using System.Text.Json;
using Supermachine.Dockerfile.Instructions;

namespace Supermachine.Dockerfile.Planning;

/// <summary>
/// A step that changes the filesystem and must be executed by an <see cref="IBuildStepExecutor"/>
/// (RUN, COPY/ADD, and the directory WORKDIR creates). Everything else in a Dockerfile only
/// changes the image config and is settled by the planner.
/// </summary>
internal abstract record BuildStep
{
    /// <summary>The instruction the step comes from (for messages: line numbers, original text).</summary>
    public required Instruction Instruction { get; init; }

    /// <summary>
    /// The step as canonical text: every field that changes its result, after expansion, and no
    /// line numbers or spelling. Part of the step cache key (see <see cref="Context.StepCacheKey"/>).
    /// </summary>
    public abstract string CacheText { get; }

    private protected static string Canonical(string kind, object fields) =>
        kind + " " + JsonSerializer.Serialize(fields);
}

/// <summary>A script file given to a RUN (a heredoc with a <c>#!</c> line), mounted read-only at <see cref="Path"/>.</summary>
internal sealed record RunScriptFile(string Path, string Content, int Mode);

/// <summary>RUN: execute <see cref="Argv"/> inside the stage's filesystem.</summary>
internal sealed record RunStep : BuildStep
{
    /// <summary>The argv to execute (shell form already wrapped in the stage's shell).</summary>
    public required IReadOnlyList<string> Argv { get; init; }

    /// <summary>Environment as <c>KEY=value</c>: the image's ENV plus ARG values in scope.</summary>
    public required IReadOnlyList<string> Env { get; init; }

    /// <summary>Absolute working directory ("/" when none was set).</summary>
    public required string WorkingDir { get; init; }

    /// <summary>User (name, uid, or user:group), empty for root.</summary>
    public required string User { get; init; }

    public string Network { get; init; } = "default";

    public IReadOnlyList<RunMount> Mounts { get; init; } = [];

    public IReadOnlyList<RunScriptFile> ScriptFiles { get; init; } = [];

    public override string CacheText => Canonical("RUN", new { Argv, Env, WorkingDir, User, Network, Mounts, ScriptFiles });
}

/// <summary>Where a COPY/ADD takes its sources from.</summary>
internal abstract record CopySource
{
    private CopySource()
    {
    }

    /// <summary>The build context directory (after .dockerignore).</summary>
    public sealed record BuildContext : CopySource;

    /// <summary>The final filesystem of another stage.</summary>
    public sealed record StageResult(int StageIndex) : CopySource;

    /// <summary>An image that is not a stage (<c>COPY --from=alpine:3</c>).</summary>
    public sealed record Image(string Reference) : CopySource;
}

/// <summary>A heredoc source of COPY/ADD, already expanded when its delimiter was unquoted.</summary>
internal sealed record InlineSource(string Name, string Content);

/// <summary>COPY or ADD.</summary>
internal sealed record CopyStep : BuildStep
{
    public required bool IsAdd { get; init; }

    public required CopySource From { get; init; }

    /// <summary>Source paths or patterns, expanded, relative to the source root.</summary>
    public required IReadOnlyList<string> Sources { get; init; }

    public IReadOnlyList<InlineSource> InlineSources { get; init; } = [];

    /// <summary>Absolute destination; a trailing '/' means "into this directory".</summary>
    public required string Destination { get; init; }

    public string? Chown { get; init; }

    public string? Chmod { get; init; }

    public bool Link { get; init; }

    public bool Parents { get; init; }

    public IReadOnlyList<string> Excludes { get; init; } = [];

    public string? Checksum { get; init; }

    public bool? Unpack { get; init; }

    /// <summary>The working directory in effect (relative sources of --parents and chown resolution need it).</summary>
    public required string WorkingDir { get; init; }

    public override string CacheText => Canonical(IsAdd ? "ADD" : "COPY", new
    {
        From = From switch
        {
            CopySource.StageResult s => "stage:" + s.StageIndex,
            CopySource.Image i => "image:" + i.Reference,
            _ => "context",
        },
        Sources,
        InlineSources,
        Destination,
        Chown,
        Chmod,
        Link,
        Parents,
        Excludes,
        Checksum,
        Unpack,
    });
}

/// <summary>WORKDIR: make sure the directory exists (owned by the current user, as BuildKit does).</summary>
internal sealed record WorkdirStep : BuildStep
{
    public required string Path { get; init; }

    public required string User { get; init; }

    public override string CacheText => Canonical("WORKDIR", new { Path, User });
}
