namespace Supermachine.Dockerfile.Instructions;

/// <summary>
/// A typed Dockerfile instruction, as written (variables not yet expanded: expansion depends on the
/// build state and happens in <see cref="Planning.BuildPlanner"/>).
/// </summary>
internal abstract record Instruction
{
    /// <summary>The keyword as written (e.g. <c>RUN</c>).</summary>
    public string Keyword { get; init; } = "";

    /// <summary>The instruction text after continuation lines were joined.</summary>
    public string Original { get; init; } = "";

    /// <summary>1-based first line.</summary>
    public int Line { get; init; }

    /// <summary>1-based last line (heredoc bodies included).</summary>
    public int EndLine { get; init; }
}

/// <summary>A key/value pair of ENV or LABEL. <see cref="LegacyForm"/> is the <c>ENV KEY value</c> form without '='.</summary>
internal sealed record KeyValue(string Key, string Value, bool LegacyForm = false);

/// <summary>An ARG declaration: a name and an optional default.</summary>
internal sealed record ArgDeclaration(string Name, string? DefaultValue);

/// <summary>A command line in exec form (<see cref="PrependShell"/> false) or shell form (one string run by the stage's shell).</summary>
internal sealed record CommandLine(IReadOnlyList<string> Arguments, bool PrependShell)
{
    /// <summary>The argv to run: exec form as is, shell form after <paramref name="shell"/>.</summary>
    public IReadOnlyList<string> ToArgv(IReadOnlyList<string> shell) => PrependShell ? [.. shell, .. Arguments] : Arguments;
}

/// <summary>A heredoc body given to RUN (as a file or stdin) or COPY/ADD (as a source file).</summary>
internal sealed record InlineFile(string Name, string Data, bool Chomp, bool Expand);

/// <summary><c>FROM [--platform=P] image [AS name]</c>: the start of a stage.</summary>
internal sealed record FromInstruction : Instruction
{
    public required string BaseName { get; init; }

    /// <summary>Lower-cased stage name, or null.</summary>
    public string? StageName { get; init; }

    public string? Platform { get; init; }
}

internal sealed record RunInstruction : Instruction
{
    public required CommandLine Command { get; init; }

    public IReadOnlyList<InlineFile> Files { get; init; } = [];

    public IReadOnlyList<RunMount> Mounts { get; init; } = [];

    /// <summary><c>default</c>, <c>none</c> or <c>host</c>.</summary>
    public string Network { get; init; } = "default";

    /// <summary><c>sandbox</c> (default) or <c>insecure</c>.</summary>
    public string Security { get; init; } = "sandbox";
}

/// <summary>One <c>RUN --mount=...</c>. Only <c>type=cache</c> (and bind/tmpfs) are meaningful to the in-VM builder; secret/ssh parse but the builder decides.</summary>
internal sealed record RunMount
{
    public string Type { get; init; } = "bind";

    public string? Target { get; init; }

    public string? Source { get; init; }

    public string? From { get; init; }

    public bool ReadOnly { get; init; }

    public string? Id { get; init; }

    /// <summary><c>shared</c> (default), <c>private</c> or <c>locked</c>.</summary>
    public string Sharing { get; init; } = "shared";

    public int? Mode { get; init; }

    public int? Uid { get; init; }

    public int? Gid { get; init; }

    public bool Required { get; init; }

    public string? Size { get; init; }
}

internal sealed record CmdInstruction : Instruction
{
    public required CommandLine Command { get; init; }
}

internal sealed record EntrypointInstruction : Instruction
{
    /// <summary>No arguments for <c>ENTRYPOINT []</c> (clears the entrypoint).</summary>
    public required CommandLine Command { get; init; }
}

internal sealed record EnvInstruction : Instruction
{
    public required IReadOnlyList<KeyValue> Variables { get; init; }
}

internal sealed record ArgInstruction : Instruction
{
    public required IReadOnlyList<ArgDeclaration> Args { get; init; }
}

internal sealed record LabelInstruction : Instruction
{
    public required IReadOnlyList<KeyValue> Labels { get; init; }
}

internal sealed record ExposeInstruction : Instruction
{
    public required IReadOnlyList<string> Ports { get; init; }
}

/// <summary>COPY and ADD share sources, destination and ownership options.</summary>
internal abstract record FileInstruction : Instruction
{
    public required IReadOnlyList<string> Sources { get; init; }

    /// <summary>Heredoc sources (<c>COPY &lt;&lt;EOF /dest</c>).</summary>
    public IReadOnlyList<InlineFile> InlineSources { get; init; } = [];

    public required string Destination { get; init; }

    public string? Chown { get; init; }

    public string? Chmod { get; init; }

    public bool Link { get; init; }

    public IReadOnlyList<string> Excludes { get; init; } = [];
}

internal sealed record CopyInstruction : FileInstruction
{
    /// <summary>A stage name, stage index or image reference; null copies from the build context.</summary>
    public string? From { get; init; }

    public bool Parents { get; init; }
}

internal sealed record AddInstruction : FileInstruction
{
    public string? Checksum { get; init; }

    public bool? KeepGitDir { get; init; }

    public bool? Unpack { get; init; }
}

internal sealed record WorkdirInstruction : Instruction
{
    public required string Path { get; init; }
}

internal sealed record UserInstruction : Instruction
{
    public required string User { get; init; }
}

internal sealed record VolumeInstruction : Instruction
{
    public required IReadOnlyList<string> Volumes { get; init; }
}

internal sealed record StopSignalInstruction : Instruction
{
    public required string Signal { get; init; }
}

internal sealed record HealthcheckInstruction : Instruction
{
    /// <summary><c>["NONE"]</c>, <c>["CMD", argv...]</c> or <c>["CMD-SHELL", command]</c>, as in the OCI/Docker config.</summary>
    public required IReadOnlyList<string> Test { get; init; }

    public TimeSpan Interval { get; init; }

    public TimeSpan Timeout { get; init; }

    public TimeSpan StartPeriod { get; init; }

    public TimeSpan StartInterval { get; init; }

    public int Retries { get; init; }
}

internal sealed record ShellInstruction : Instruction
{
    public required IReadOnlyList<string> Shell { get; init; }
}

internal sealed record OnbuildInstruction : Instruction
{
    /// <summary>The trigger instruction text, stored in the image and run by builds that use it as a base.</summary>
    public required string Expression { get; init; }
}

internal sealed record MaintainerInstruction : Instruction
{
    public required string Maintainer { get; init; }
}

/// <summary>A build stage: its FROM and the instructions up to the next FROM.</summary>
internal sealed record Stage(int Index, FromInstruction From, IReadOnlyList<Instruction> Instructions)
{
    public string? Name => From.StageName;

    /// <summary>The stage's name, or its index when unnamed (how COPY --from and errors refer to it).</summary>
    public string DisplayName => Name ?? Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A Dockerfile as typed instructions: the ARGs before the first FROM, then the stages.</summary>
internal sealed record DockerfileInstructions(string SourceName, char EscapeToken, IReadOnlyList<ArgInstruction> GlobalArgs, IReadOnlyList<Stage> Stages);
