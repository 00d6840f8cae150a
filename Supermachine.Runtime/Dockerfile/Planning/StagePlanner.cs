using System.Globalization;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Expansion;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Parsing;

namespace Supermachine.Dockerfile.Planning;

/// <summary>Dispatches one stage's instructions: expansion, config updates and steps.</summary>
internal sealed class StagePlanner
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
            Config.Env.Add("PATH=" + BuildPlanner.DefaultPath);
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
        Errors.DockerfileInstructionInvalid(Source, instruction.Line, message, instruction.Keyword.ToUpperInvariant());

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
                Config.WorkingDir = BuildPlanner.ResolvePath(Config.WorkingDir, Expand(workdir.Path, workdir));
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
                        throw Errors.DockerfileExpansionFailed(Source, expose.Line, port, e.Message);
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
            Target = m.Target is null ? null : BuildPlanner.ResolvePath(Config.WorkingDir, Expand(m.Target, run)),
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
                    throw Errors.DockerfileExpansionFailed(Source, file.Line, s.Name, e.Message);
                }
            }
            return new InlineSource(s.Name, content);
        }).ToList();
        string destination = Expand(file.Destination, file);
        string resolved = BuildPlanner.ResolvePath(Config.WorkingDir, destination);
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
