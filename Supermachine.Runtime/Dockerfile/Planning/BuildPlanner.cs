using System.Globalization;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Expansion;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Parsing;

namespace Supermachine.Dockerfile.Planning;

/// <summary>Gives the config of a base image (the OCI client implements it; tests may use fixed configs).</summary>
internal interface IBaseImageResolver
{
    ValueTask<ImageConfig> GetConfigAsync(string reference, string? platform, CancellationToken cancellationToken);
}

/// <summary>
/// Works out a <see cref="BuildPlan"/> the way BuildKit's dockerfile2llb does, without executing
/// anything: global ARGs and build arguments, FROM expansion and stage references, the dependency
/// graph and the stages a target needs, then per required stage the variable expansion of each
/// instruction, the image config it produces and the filesystem steps to execute later.
/// </summary>
internal static class BuildPlanner
{
    /// <summary>The PATH a stage gets when its base image sets none (BuildKit's Linux default).</summary>
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";


    /// <summary>Reads, parses and plans the Dockerfile at <paramref name="dockerfilePath"/>.</summary>
    public static ValueTask<BuildPlan> PlanFileAsync(string dockerfilePath, BuildOptions options, IBaseImageResolver? baseImages = null, CancellationToken cancellationToken = default) =>
        PlanAsync(InstructionParser.ParseFile(dockerfilePath), options, baseImages, cancellationToken);

    /// <summary>Plans <paramref name="dockerfile"/>; base image configs come from <paramref name="baseImages"/> (empty configs when null).</summary>
    /// <exception cref="SupermachineException">SM2203/SM2205/SM2206/SM2210 with file and line.</exception>
    public static async ValueTask<BuildPlan> PlanAsync(DockerfileInstructions dockerfile, BuildOptions options, IBaseImageResolver? baseImages = null, CancellationToken cancellationToken = default)
    {
        string source = dockerfile.SourceName;
        var lexer = new ShellLexer(dockerfile.EscapeToken);
        var usedBuildArgs = new HashSet<string>(StringComparer.Ordinal);

        // Global scope: platform ARGs, then the ARGs before the first FROM (a build argument wins over a default).
        var globalArgs = new Dictionary<string, string>(StringComparer.Ordinal);
        AddPlatformArgs(globalArgs, "BUILD", BuildOptions.HostPlatform());
        AddPlatformArgs(globalArgs, "TARGET", options.Platform ?? BuildOptions.HostPlatform());
        foreach (ArgInstruction arg in dockerfile.GlobalArgs)
        {
            foreach (ArgDeclaration declaration in arg.Args)
            {
                // ARG names are taken literally; only default values expand.
                string name = declaration.Name;
                if (options.BuildArgs.TryGetValue(name, out string? given))
                {
                    usedBuildArgs.Add(name);
                    globalArgs[name] = given;
                }
                else if (declaration.DefaultValue is { } defaultValue)
                {
                    globalArgs[name] = Expand(lexer, defaultValue, globalArgs, arg, source);
                }
            }
        }

        // Stage bases: FROM expands with global ARGs only, and names an earlier stage or an image.
        var stagesByName = new Dictionary<string, int>(StringComparer.Ordinal);
        var bases = new List<StageBase>();
        foreach (Stage stage in dockerfile.Stages)
        {
            FromInstruction from = stage.From;
            string baseName = Expand(lexer, from.BaseName, globalArgs, from, source);
            if (baseName.Length == 0)
            {
                throw Errors.DockerfileInstructionInvalid(source, from.Line, $"base name ({from.BaseName}) should not be blank", "FROM");
            }
            string? platform = from.Platform is null ? null : Expand(lexer, from.Platform, globalArgs, from, source);
            if (platform is { Length: 0 })
            {
                throw Errors.DockerfileInstructionInvalid(source, from.Line, $"empty platform value from expression {from.Platform}", "FROM");
            }
            bases.Add(stagesByName.TryGetValue(baseName, out int earlier)
                ? new StageBase.Stage(earlier)
                : baseName.Equals("scratch", StringComparison.OrdinalIgnoreCase) ? new StageBase.Scratch() : new StageBase.Image(baseName, platform));
            if (stage.Name is { } stageName)
            {
                stagesByName[stageName] = stage.Index;
            }
        }

        // Dependencies: the base stage, COPY --from and RUN --mount from= (these may name any stage).
        var dependencies = new List<List<int>>();
        var copySources = new Dictionary<Instruction, CopySource>();
        foreach (Stage stage in dockerfile.Stages)
        {
            var deps = new List<int>();
            if (bases[stage.Index] is StageBase.Stage s)
            {
                deps.Add(s.StageIndex);
            }
            foreach (Instruction instruction in stage.Instructions)
            {
                IEnumerable<string> references = instruction switch
                {
                    CopyInstruction { From: { } f } => [f],
                    RunInstruction run => run.Mounts.Where(m => m.From is not null).Select(m => m.From!),
                    _ => [],
                };
                foreach (string reference in references)
                {
                    CopySource resolved = ResolveFrom(reference, dockerfile, stagesByName, lexer, instruction, source);
                    if (instruction is CopyInstruction)
                    {
                        copySources[instruction] = resolved;
                    }
                    if (resolved is CopySource.StageResult result && !deps.Contains(result.StageIndex))
                    {
                        deps.Add(result.StageIndex);
                    }
                }
            }
            dependencies.Add(deps);
        }

        if (dockerfile.Stages.Count == 0)
        {
            // Only global ARGs: there is no stage to build (BuildKit: "dockerfile contains no stages to build").
            int lastLine = dockerfile.GlobalArgs.Count == 0 ? 1 : dockerfile.GlobalArgs[^1].Line;
            throw Errors.DockerfileWithoutStages(source, lastLine);
        }
        int target = dockerfile.Stages.Count - 1;
        if (options.Target is { } targetName)
        {
            if (!stagesByName.TryGetValue(targetName.ToLowerInvariant(), out target))
            {
                string names = string.Join(", ", stagesByName.OrderBy(p => p.Value).Select(p => p.Key));
                throw Errors.BuildTargetNotAStage(targetName, source, names.Length == 0 ? "(the Dockerfile has no named stages)" : names);
            }
        }

        List<int> order = ExecutionOrder(target, dependencies, dockerfile, source);
        var required = new HashSet<int>(order);

        var planned = new PlannedStage?[dockerfile.Stages.Count];
        foreach (int index in order)
        {
            Stage stage = dockerfile.Stages[index];
            ImageConfig baseConfig = bases[index] switch
            {
                StageBase.Stage s => planned[s.StageIndex]!.Config!.Clone(),
                StageBase.Image image => baseImages is null ? new ImageConfig() : (await baseImages.GetConfigAsync(image.Reference, image.Platform, cancellationToken).ConfigureAwait(false)).Clone(),
                _ => new ImageConfig(),
            };
            var planner = new StagePlanner(dockerfile, options, lexer, globalArgs, usedBuildArgs, copySources, baseConfig);
            planner.Plan(stage);
            planned[index] = new PlannedStage
            {
                Stage = stage,
                Base = bases[index],
                Dependencies = dependencies[index],
                Required = true,
                Steps = planner.Steps,
                Config = planner.Config,
                Args = planner.Args,
            };
        }

        return new BuildPlan
        {
            Dockerfile = dockerfile,
            Stages = dockerfile.Stages.Select(s => planned[s.Index] ?? new PlannedStage
            {
                Stage = s,
                Base = bases[s.Index],
                Dependencies = dependencies[s.Index],
                Required = false,
            }).ToList(),
            TargetIndex = target,
            ExecutionOrder = order,
            GlobalArgs = globalArgs,
            UnusedBuildArgs = options.BuildArgs.Keys.Where(k => !usedBuildArgs.Contains(k)).Order(StringComparer.Ordinal).ToList(),
        };
    }

    private static void AddPlatformArgs(Dictionary<string, string> args, string prefix, string platform)
    {
        string[] parts = platform.Split('/');
        args[prefix + "PLATFORM"] = platform;
        args[prefix + "OS"] = parts[0];
        args[prefix + "ARCH"] = parts.Length > 1 ? parts[1] : "";
        args[prefix + "VARIANT"] = parts.Length > 2 ? parts[2] : "";
    }

    // Depth-first from the target: dependencies come first; a stage met again while still open is a cycle.
    private static List<int> ExecutionOrder(int target, List<List<int>> dependencies, DockerfileInstructions dockerfile, string source)
    {
        var order = new List<int>();
        var state = new int[dependencies.Count]; // 0 new, 1 open, 2 done
        void Visit(int index, Stage? from)
        {
            if (state[index] == 2)
            {
                return;
            }
            if (state[index] == 1)
            {
                Stage cyclic = dockerfile.Stages[index];
                throw Errors.DockerfileStageCycle(source, (from ?? cyclic).From.Line, cyclic.DisplayName, from is null ? "itself" : $"stage '{from.DisplayName}'");
            }
            state[index] = 1;
            foreach (int dependency in dependencies[index])
            {
                Visit(dependency, dockerfile.Stages[index]);
            }
            state[index] = 2;
            order.Add(index);
        }
        Visit(target, null);
        return order;
    }

    private static CopySource ResolveFrom(string reference, DockerfileInstructions dockerfile, Dictionary<string, int> stagesByName, ShellLexer lexer, Instruction instruction, string source)
    {
        string expanded;
        try
        {
            expanded = lexer.ProcessWord(reference, new Dictionary<string, string>());
        }
        catch (ShellExpansionException e)
        {
            throw Errors.DockerfileExpansionFailed(source, instruction.Line, reference, e.Message);
        }
        if (expanded != reference)
        {
            throw Errors.DockerfileInstructionInvalid(source, instruction.Line, $"variable expansion is not supported for --from ({reference}); define a stage with FROM using a global ARG instead", instruction.Keyword.ToUpperInvariant());
        }
        if (int.TryParse(reference, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            if (index >= dockerfile.Stages.Count)
            {
                throw Errors.DockerfileInstructionInvalid(source, instruction.Line, $"invalid stage index {index} (the Dockerfile has {dockerfile.Stages.Count} stages)", instruction.Keyword.ToUpperInvariant());
            }
            return new CopySource.StageResult(index);
        }
        return stagesByName.TryGetValue(reference.ToLowerInvariant(), out int named) ? new CopySource.StageResult(named) : new CopySource.Image(reference);
    }

    internal static string Expand(ShellLexer lexer, string word, IReadOnlyDictionary<string, string> env, Instruction instruction, string source)
    {
        try
        {
            return lexer.ProcessWord(word, env);
        }
        catch (ShellExpansionException e)
        {
            throw Errors.DockerfileExpansionFailed(source, instruction.Line, word, e.Message);
        }
    }

    /// <summary>Resolves <paramref name="path"/> against the working directory and cleans it (Go's path.Clean rules).</summary>
    internal static string ResolvePath(string workingDir, string path)
    {
        string combined = path.StartsWith('/') ? path : (workingDir.Length == 0 ? "/" : workingDir) + "/" + path;
        var parts = new List<string>();
        foreach (string part in combined.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
                continue;
            }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }
}
