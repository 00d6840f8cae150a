using System.Globalization;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Expansion;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Parsing;

namespace Supermachine.Dockerfile.Planning;

/// <summary>Gives the config of a base image (the OCI client implements it; tests may use fixed configs).</summary>
public interface IBaseImageResolver
{
    ValueTask<ImageConfig> GetConfigAsync(string reference, string? platform, CancellationToken cancellationToken);
}

/// <summary>
/// Works out a <see cref="BuildPlan"/> the way BuildKit's dockerfile2llb does, without executing
/// anything: global ARGs and build arguments, FROM expansion and stage references, the dependency
/// graph and the stages a target needs, then per required stage the variable expansion of each
/// instruction, the image config it produces and the filesystem steps to execute later.
/// </summary>
public static class BuildPlanner
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
                throw Diagnostic.Error("SM2203", source, from.Line, $"base name ({from.BaseName}) should not be blank", "FROM");
            }
            string? platform = from.Platform is null ? null : Expand(lexer, from.Platform, globalArgs, from, source);
            if (platform is { Length: 0 })
            {
                throw Diagnostic.Error("SM2203", source, from.Line, $"empty platform value from expression {from.Platform}", "FROM");
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
            throw Diagnostic.Error("SM2230", source, lastLine);
        }
        int target = dockerfile.Stages.Count - 1;
        if (options.Target is { } targetName)
        {
            if (!stagesByName.TryGetValue(targetName.ToLowerInvariant(), out target))
            {
                string names = string.Join(", ", stagesByName.OrderBy(p => p.Value).Select(p => p.Key));
                throw Diagnostic.Error("SM2206", targetName, source, names.Length == 0 ? "(the Dockerfile has no named stages)" : names);
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
                throw Diagnostic.Error("SM2210", source, (from ?? cyclic).From.Line, cyclic.DisplayName, from is null ? "itself" : $"stage '{from.DisplayName}'");
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
            throw Diagnostic.Error("SM2205", source, instruction.Line, reference, e.Message);
        }
        if (expanded != reference)
        {
            throw Diagnostic.Error("SM2203", source, instruction.Line, $"variable expansion is not supported for --from ({reference}); define a stage with FROM using a global ARG instead", instruction.Keyword.ToUpperInvariant());
        }
        if (int.TryParse(reference, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            if (index >= dockerfile.Stages.Count)
            {
                throw Diagnostic.Error("SM2203", source, instruction.Line, $"invalid stage index {index} (the Dockerfile has {dockerfile.Stages.Count} stages)", instruction.Keyword.ToUpperInvariant());
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
            throw Diagnostic.Error("SM2205", source, instruction.Line, word, e.Message);
        }
    }

    /// <summary>Dispatches one stage's instructions: expansion, config updates and steps.</summary>
    private sealed class StagePlanner
    {
        private readonly DockerfileInstructions _dockerfile;
        private readonly BuildOptions _options;
        private readonly ShellLexer _lexer;
        private readonly IReadOnlyDictionary<string, string> _globalArgs;
        private readonly HashSet<string> _usedBuildArgs;
        private readonly Dictionary<Instruction, CopySource> _copySources;
        private readonly Dictionary<string, string> _args = new(StringComparer.Ordinal);
        private readonly List<KeyValuePair<string, string>> _env = [];
        private bool _cmdSet;

        public StagePlanner(DockerfileInstructions dockerfile, BuildOptions options, ShellLexer lexer, IReadOnlyDictionary<string, string> globalArgs, HashSet<string> usedBuildArgs, Dictionary<Instruction, CopySource> copySources, ImageConfig baseConfig)
        {
            _dockerfile = dockerfile;
            _options = options;
            _lexer = lexer;
            _globalArgs = globalArgs;
            _usedBuildArgs = usedBuildArgs;
            _copySources = copySources;
            Config = baseConfig;
            // Every stage has a PATH, as in BuildKit: the Linux default when the base sets none.
            if (Config.GetEnv("PATH") is null)
            {
                Config.Env.Add("PATH=" + DefaultPath);
            }
            foreach (string entry in baseConfig.Env)
            {
                int eq = entry.IndexOf('=', StringComparison.Ordinal);
                SetStateEnv(eq < 0 ? entry : entry[..eq], eq < 0 ? "" : entry[(eq + 1)..]);
            }
        }

        public ImageConfig Config { get; }

        public List<BuildStep> Steps { get; } = [];

        public IReadOnlyDictionary<string, string> Args => _args;

        private string Source => _dockerfile.SourceName;

        // The environment variables expand with: image ENV and ARGs in scope, later definitions winning (BuildKit's state env).
        private Dictionary<string, string> StateEnv()
        {
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in _env)
            {
                env[key] = value;
            }
            return env;
        }

        private void SetStateEnv(string key, string value)
        {
            int index = _env.FindIndex(p => p.Key == key);
            if (index >= 0)
            {
                _env[index] = new(key, value);
            }
            else
            {
                _env.Add(new(key, value));
            }
        }

        private string Expand(string word, Instruction instruction) => BuildPlanner.Expand(_lexer, word, StateEnv(), instruction, Source);

        private SupermachineException Invalid(Instruction instruction, string message) =>
            Diagnostic.Error("SM2203", Source, instruction.Line, message, instruction.Keyword.ToUpperInvariant());

        public void Plan(Stage stage)
        {
            // ONBUILD triggers of the base run first, then are dropped from the config.
            var instructions = new List<Instruction>();
            foreach (string trigger in Config.OnBuild)
            {
                DockerfileSyntax syntax = DockerfileParser.Parse(trigger, $"{Source} (ONBUILD trigger of the base of stage {stage.DisplayName})");
                foreach (Node node in syntax.Root.Children)
                {
                    instructions.Add(InstructionParser.ParseInstruction(node, Source) with { Line = stage.From.Line, EndLine = stage.From.Line });
                }
            }
            Config.OnBuild.Clear();
            instructions.AddRange(stage.Instructions);
            foreach (Instruction instruction in instructions)
            {
                Dispatch(instruction);
            }
        }

        private void Dispatch(Instruction instruction)
        {
            switch (instruction)
            {
                case EnvInstruction env:
                    foreach (KeyValue kv in env.Variables)
                    {
                        string key = Expand(kv.Key, env);
                        string value = Expand(kv.Value, env);
                        SetStateEnv(key, value);
                        Config.SetEnv(key, value);
                    }
                    break;
                case ArgInstruction arg:
                    DispatchArg(arg);
                    break;
                case LabelInstruction label:
                    foreach (KeyValue kv in label.Labels)
                    {
                        Config.Labels[Expand(kv.Key, label)] = Expand(kv.Value, label);
                    }
                    break;
                case WorkdirInstruction workdir:
                    Config.WorkingDir = ResolvePath(Config.WorkingDir, Expand(workdir.Path, workdir));
                    Steps.Add(new WorkdirStep { Instruction = workdir, Path = Config.WorkingDir, User = Config.User });
                    break;
                case UserInstruction user:
                    Config.User = Expand(user.User, user);
                    break;
                case ExposeInstruction expose:
                    foreach (string port in expose.Ports)
                    {
                        IReadOnlyList<string> words;
                        try
                        {
                            words = _lexer.ProcessWords(port, StateEnv());
                        }
                        catch (ShellExpansionException e)
                        {
                            throw Diagnostic.Error("SM2205", Source, expose.Line, port, e.Message);
                        }
                        foreach (string word in words)
                        {
                            foreach (string spec in ParsePortSpec(word, expose))
                            {
                                Config.ExposedPorts.Add(spec);
                            }
                        }
                    }
                    break;
                case VolumeInstruction volume:
                    foreach (string v in volume.Volumes)
                    {
                        string path = Expand(v, volume);
                        if (path.Length == 0)
                        {
                            throw Invalid(volume, "VOLUME specified can not be an empty string");
                        }
                        Config.Volumes.Add(path);
                    }
                    break;
                case StopSignalInstruction stop:
                    string signal = Expand(stop.Signal, stop);
                    if (!Signals.IsValid(signal))
                    {
                        throw Invalid(stop, $"invalid signal '{signal}' (use a name such as SIGTERM or a number)");
                    }
                    Config.StopSignal = signal;
                    break;
                case CmdInstruction cmd:
                    Config.Cmd = [.. cmd.Command.ToArgv(Config.EffectiveShell)];
                    _cmdSet = true;
                    break;
                case EntrypointInstruction entrypoint:
                    Config.Entrypoint = entrypoint.Command.Arguments.Count == 0 ? null : [.. entrypoint.Command.ToArgv(Config.EffectiveShell)];
                    if (!_cmdSet)
                    {
                        // An ENTRYPOINT resets a CMD inherited from the base (but not one set in this stage).
                        Config.Cmd = null;
                    }
                    break;
                case ShellInstruction shell:
                    Config.Shell = [.. shell.Shell];
                    break;
                case HealthcheckInstruction health:
                    Config.Healthcheck = new HealthcheckConfig(health.Test, health.Interval, health.Timeout, health.StartPeriod, health.StartInterval, health.Retries);
                    break;
                case OnbuildInstruction onbuild:
                    Config.OnBuild.Add(onbuild.Expression);
                    break;
                case MaintainerInstruction maintainer:
                    Config.Author = maintainer.Maintainer;
                    break;
                case RunInstruction run:
                    Steps.Add(PlanRun(run));
                    break;
                case FileInstruction file:
                    Steps.Add(PlanCopy(file));
                    break;
                default:
                    throw Invalid(instruction, $"{instruction.Keyword} is not allowed here");
            }
        }

        private void DispatchArg(ArgInstruction arg)
        {
            foreach (ArgDeclaration declaration in arg.Args)
            {
                string name = declaration.Name;
                string? value = null;
                bool hasBuildArg = _options.BuildArgs.TryGetValue(name, out string? given);
                if (hasBuildArg)
                {
                    _usedBuildArgs.Add(name);
                    value = given;
                }
                else if (declaration.DefaultValue is { } defaultValue)
                {
                    value = Expand(defaultValue, arg);
                }
                else if (_globalArgs.TryGetValue(name, out string? inherited))
                {
                    // "ARG NAME" inside a stage brings a global ARG (or platform ARG) into scope.
                    value = inherited;
                }
                if (value is not null)
                {
                    _args[name] = value;
                    SetStateEnv(name, value);
                }
            }
        }

        private RunStep PlanRun(RunInstruction run)
        {
            IReadOnlyList<string> args = run.Command.Arguments;
            var scripts = new List<RunScriptFile>();
            if (run.Files.Count > 0)
            {
                if (args.Count != 1 || !run.Command.PrependShell)
                {
                    throw Invalid(run, "heredocs need the shell form of RUN");
                }
                if (DockerfileParser.ParseHeredocOrNull(args[0]) is not null)
                {
                    InlineFile file = run.Files[0];
                    string data = file.Chomp ? DockerfileParser.ChompHeredocContent(file.Data) : file.Data;
                    if (data.StartsWith("#!", StringComparison.Ordinal))
                    {
                        // A script with its own interpreter: mounted read-only and executed directly.
                        string path = "/dev/pipes/" + file.Name;
                        scripts.Add(new RunScriptFile(path, data, 0b111_101_101));
                        args = [path];
                        return Run(run, args, prependShell: false, scripts);
                    }
                    args = [data];
                }
                else
                {
                    // Several heredocs or text around them: hand the whole thing to the shell.
                    string full = args[0];
                    foreach (InlineFile file in run.Files)
                    {
                        full += "\n" + file.Data + file.Name;
                    }
                    args = [full];
                }
            }
            return Run(run, args, run.Command.PrependShell, scripts);
        }

        private RunStep Run(RunInstruction run, IReadOnlyList<string> args, bool prependShell, List<RunScriptFile> scripts)
        {
            IReadOnlyList<string> argv = new CommandLine(args, prependShell).ToArgv(Config.EffectiveShell);
            if (argv.Count == 0)
            {
                throw Invalid(run, "RUN has an empty command");
            }
            Dictionary<string, string> env = StateEnv();
            var mounts = run.Mounts.Select(m => m with
            {
                Target = m.Target is null ? null : ResolvePath(Config.WorkingDir, Expand(m.Target, run)),
                Source = m.Source is null ? null : Expand(m.Source, run),
                Id = m.Id is null ? null : Expand(m.Id, run),
            }).ToList();
            return new RunStep
            {
                Instruction = run,
                Argv = argv,
                Env = _env.Select(p => p.Key + "=" + env[p.Key]).ToList(),
                WorkingDir = Config.WorkingDir.Length == 0 ? "/" : Config.WorkingDir,
                User = Config.User,
                Network = run.Network,
                Mounts = mounts,
                ScriptFiles = scripts,
            };
        }

        private CopyStep PlanCopy(FileInstruction file)
        {
            var sources = file.Sources.Select(s => Expand(s, file)).ToList();
            var rawLexer = new ShellLexer('\\') { SkipProcessQuotes = true };
            var inline = file.InlineSources.Select(s =>
            {
                string content = s.Data;
                if (s.Expand)
                {
                    try
                    {
                        content = rawLexer.ProcessWord(content, StateEnv());
                    }
                    catch (ShellExpansionException e)
                    {
                        throw Diagnostic.Error("SM2205", Source, file.Line, s.Name, e.Message);
                    }
                }
                return new InlineSource(s.Name, content);
            }).ToList();
            string destination = Expand(file.Destination, file);
            string resolved = ResolvePath(Config.WorkingDir, destination);
            if ((destination.EndsWith('/') || destination is "." or "" || destination.EndsWith("/.", StringComparison.Ordinal)) && !resolved.EndsWith('/'))
            {
                resolved += "/";
            }
            string? chmod = file.Chmod is null ? null : Expand(file.Chmod, file);
            if (chmod is not null && !IsValidChmod(chmod))
            {
                throw Invalid(file, $"invalid --chmod value '{chmod}' (use octal such as 0755, or symbolic such as u+x)");
            }
            CopySource from = _copySources.TryGetValue(file, out CopySource? known) ? known : new CopySource.BuildContext();
            return new CopyStep
            {
                Instruction = file,
                IsAdd = file is AddInstruction,
                From = from,
                Sources = sources,
                InlineSources = inline,
                Destination = resolved,
                Chown = file.Chown is null ? null : Expand(file.Chown, file),
                Chmod = chmod,
                Link = file.Link,
                Parents = file is CopyInstruction { Parents: true },
                Excludes = file.Excludes.Select(e => Expand(e, file)).ToList(),
                Checksum = file is AddInstruction { Checksum: { } checksum } ? Expand(checksum, file) : null,
                Unpack = (file as AddInstruction)?.Unpack,
                WorkingDir = Config.WorkingDir.Length == 0 ? "/" : Config.WorkingDir,
            };
        }

        private static bool IsValidChmod(string chmod) =>
            chmod.All(c => c is >= '0' and <= '7') && chmod.Length is > 0 and <= 4
            || chmod.Split(',').All(clause => System.Text.RegularExpressions.Regex.IsMatch(clause, "^[ugoa]*[-+=][rwxXst]*$"));

        private IEnumerable<string> ParsePortSpec(string spec, Instruction instruction)
        {
            string port = spec;
            string protocol = "tcp";
            int slash = port.LastIndexOf('/');
            if (slash >= 0)
            {
                protocol = port[(slash + 1)..].ToLowerInvariant();
                port = port[..slash];
            }
            int colon = port.LastIndexOf(':');
            if (colon >= 0)
            {
                port = port[(colon + 1)..];
            }
            if (protocol is not ("tcp" or "udp" or "sctp"))
            {
                throw Invalid(instruction, $"invalid protocol '{protocol}' in port '{spec}' (use tcp, udp or sctp)");
            }
            string[] range = port.Split('-');
            if (range.Length > 2 || !TryPort(range[0], out int start) || !TryPort(range[^1], out int end) || end < start)
            {
                throw Invalid(instruction, $"invalid port '{spec}' (use PORT, PORT/PROTOCOL or START-END)");
            }
            for (int p = start; p <= end; p++)
            {
                yield return p.ToString(CultureInfo.InvariantCulture) + "/" + protocol;
            }
        }

        private static bool TryPort(string text, out int port) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 0 and <= 65535;
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

/// <summary>Signal names and numbers STOPSIGNAL accepts (Linux).</summary>
internal static class Signals
{
    private static readonly HashSet<string> Names = new(StringComparer.Ordinal)
    {
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR",
        "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM",
        "WINCH", "XCPU", "XFSZ",
    };

    public static bool IsValid(string signal)
    {
        if (int.TryParse(signal, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
        {
            return number is >= 1 and <= 64;
        }
        string name = signal.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal))
        {
            name = name[3..];
        }
        if (name.StartsWith("RTMIN", StringComparison.Ordinal) || name.StartsWith("RTMAX", StringComparison.Ordinal))
        {
            return true;
        }
        return Names.Contains(name);
    }
}
