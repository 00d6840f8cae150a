using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Parsing;

namespace Supermachine.Dockerfile.Instructions;

/// <summary>
/// Turns the syntax tree into typed instructions grouped in stages, checking each instruction's
/// flags and argument counts the way BuildKit's instructions package does. Errors are SM2203
/// (bad flag or argument), SM2204 (unknown instruction) and SM2208 (instruction before FROM),
/// each naming the file and line.
/// </summary>
public static partial class InstructionParser
{
    [GeneratedRegex("^[a-z][a-z0-9-_.]*$", RegexOptions.CultureInvariant)]
    private static partial Regex StageNamePattern();

    [GeneratedRegex(@"^\s*ONBUILD\s*", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex OnbuildPrefix();

    /// <summary>Parses a Dockerfile file into stages.</summary>
    public static DockerfileInstructions ParseFile(string path) => Parse(DockerfileParser.ParseFile(path), path);

    /// <summary>Parses Dockerfile text into stages.</summary>
    public static DockerfileInstructions Parse(string text, string sourceName = "Dockerfile") =>
        Parse(DockerfileParser.Parse(text, sourceName), sourceName);

    /// <summary>Groups the instructions of <paramref name="syntax"/> into global ARGs and stages.</summary>
    public static DockerfileInstructions Parse(DockerfileSyntax syntax, string sourceName = "Dockerfile")
    {
        var globalArgs = new List<ArgInstruction>();
        var stages = new List<(FromInstruction From, List<Instruction> Body)>();
        foreach (Node node in syntax.Root.Children)
        {
            Instruction instruction = ParseInstruction(node, sourceName);
            switch (instruction)
            {
                case FromInstruction from:
                    stages.Add((from, []));
                    break;
                case ArgInstruction arg when stages.Count == 0:
                    globalArgs.Add(arg);
                    break;
                default:
                    if (stages.Count == 0)
                    {
                        throw Diagnostic.Error("SM2208", sourceName, node.StartLine, node.Value.ToUpperInvariant());
                    }
                    stages[^1].Body.Add(instruction);
                    break;
            }
        }
        return new DockerfileInstructions(
            sourceName,
            syntax.EscapeToken,
            globalArgs,
            stages.Select((s, i) => new Stage(i, s.From, s.Body)).ToList());
    }

    /// <summary>Parses one instruction node (used for ONBUILD triggers too).</summary>
    public static Instruction ParseInstruction(Node node, string sourceName = "Dockerfile")
    {
        string keyword = node.Value.ToLowerInvariant();
        try
        {
            var request = new Request(node);
            return keyword switch
            {
                "from" => ParseFrom(request),
                "run" => ParseRun(request),
                "cmd" => request.Base(new CmdInstruction { Command = ShellDependent(request) }).Checked(request),
                "entrypoint" => request.Base(new EntrypointInstruction { Command = ShellDependent(request) }).Checked(request),
                "env" => request.Base(new EnvInstruction { Variables = KeyValues(request, "ENV") }).Checked(request),
                "label" => request.Base(new LabelInstruction { Labels = KeyValues(request, "LABEL") }).Checked(request),
                "arg" => ParseArg(request),
                "expose" => ParseExpose(request),
                "copy" => ParseCopy(request),
                "add" => ParseAdd(request),
                "workdir" => request.Base(new WorkdirInstruction { Path = ExactlyOne(request, "WORKDIR") }).Checked(request),
                "user" => request.Base(new UserInstruction { User = ExactlyOne(request, "USER") }).Checked(request),
                "volume" => ParseVolume(request),
                // BuildKit ignores flags on STOPSIGNAL and ARG (and HEALTHCHECK NONE); so do we, to accept what it accepts.
                "stopsignal" => request.Base(new StopSignalInstruction { Signal = ExactlyOne(request, "STOPSIGNAL") }),
                "healthcheck" => ParseHealthcheck(request),
                "shell" => ParseShell(request),
                "onbuild" => ParseOnbuild(request),
                "maintainer" => request.Base(new MaintainerInstruction { Maintainer = ExactlyOne(request, "MAINTAINER") }).Checked(request),
                _ => throw Diagnostic.Error("SM2204", sourceName, node.StartLine, node.Value),
            };
        }
        catch (InstructionException e)
        {
            throw Diagnostic.Error("SM2203", sourceName, node.StartLine, e.Message, node.Value.ToUpperInvariant());
        }
    }

    private static T Checked<T>(this T instruction, Request request)
        where T : Instruction
    {
        request.Flags.Parse();
        return instruction;
    }

    private sealed class Request(Node node)
    {
        public Node Node { get; } = node;

        public IReadOnlyList<string> Args { get; } = node.Arguments();

        public BuilderFlags Flags { get; } = new(node.Flags);

        public T Base<T>(T instruction)
            where T : Instruction => instruction with { Keyword = Node.Value, Original = Node.Original, Line = Node.StartLine, EndLine = Node.EndLine };
    }

    private static string ExactlyOne(Request request, string command) =>
        request.Args.Count == 1 ? request.Args[0] : throw new InstructionException($"{command} requires exactly one argument");

    private static IReadOnlyList<KeyValue> KeyValues(Request request, string command)
    {
        IReadOnlyList<string> args = request.Args;
        if (args.Count == 0)
        {
            throw new InstructionException($"{command} requires at least one argument");
        }
        if (args.Count % 3 != 0)
        {
            throw new InstructionException($"Bad input to {command}, too many arguments");
        }
        var pairs = new List<KeyValue>();
        for (int i = 0; i < args.Count; i += 3)
        {
            if (args[i].Length == 0)
            {
                throw new InstructionException($"{command} names can not be blank");
            }
            pairs.Add(new KeyValue(args[i], args[i + 1], args[i + 2].Length == 0));
        }
        return pairs;
    }

    private static CommandLine ShellDependent(Request request)
    {
        IReadOnlyList<string> args = request.Args;
        if (args.Count == 0)
        {
            return new CommandLine([], !request.Node.IsJson);
        }
        return request.Node.IsJson ? new CommandLine(args, false) : new CommandLine([string.Join(' ', args)], true);
    }

    private static FromInstruction ParseFrom(Request request)
    {
        IReadOnlyList<string> args = request.Args;
        string? stageName = null;
        if (args.Count == 3 && args[1].Equals("as", StringComparison.OrdinalIgnoreCase))
        {
            stageName = args[2].ToLowerInvariant();
            if (!StageNamePattern().IsMatch(stageName))
            {
                throw new InstructionException($"invalid name for build stage: \"{args[2]}\", name can't start with a number or contain symbols");
            }
        }
        else if (args.Count != 1)
        {
            throw new InstructionException("FROM requires either one or three arguments (FROM image [AS name])");
        }
        request.Flags.String("platform").Parse();
        return request.Base(new FromInstruction
        {
            BaseName = args[0],
            StageName = stageName,
            Platform = request.Flags.GetString("platform"),
        });
    }

    private static RunInstruction ParseRun(Request request)
    {
        request.Flags.Strings("mount").String("network").String("security").Strings("device").Parse();
        string network = request.Flags.GetString("network") ?? "default";
        if (network is not ("default" or "none" or "host"))
        {
            throw new InstructionException($"unsupported network mode \"{network}\" (use default, none or host)");
        }
        string security = request.Flags.GetString("security") ?? "sandbox";
        if (security is not ("sandbox" or "insecure"))
        {
            throw new InstructionException($"unsupported security mode \"{security}\" (use sandbox or insecure)");
        }
        CommandLine command = ShellDependent(request);
        if (command.Arguments.Count == 0 && !request.Node.IsJson)
        {
            throw new InstructionException("RUN requires at least one argument");
        }
        return request.Base(new RunInstruction
        {
            Command = command,
            Files = request.Node.Heredocs.Select(h => new InlineFile(h.Name, h.Content, h.Chomp, h.Expand)).ToList(),
            Mounts = request.Flags.GetStrings("mount").Select(ParseMount).ToList(),
            Network = network,
            Security = security,
        });
    }

    /// <summary>Parses the CSV of one <c>--mount</c> value (<c>type=cache,target=/root/.cache,sharing=locked</c>).</summary>
    public static RunMount ParseMount(string value)
    {
        var mount = new RunMount();
        foreach (string field in SplitCsv(value))
        {
            int eq = field.IndexOf('=', StringComparison.Ordinal);
            string key = (eq < 0 ? field : field[..eq]).ToLowerInvariant();
            string? v = eq < 0 ? null : field[(eq + 1)..];
            if (v is null)
            {
                mount = key switch
                {
                    "readonly" or "ro" => mount with { ReadOnly = true },
                    "readwrite" or "rw" => mount with { ReadOnly = false },
                    "required" when mount.Type is "secret" or "ssh" => mount with { Required = true },
                    _ => throw new InstructionException($"invalid field '{field}' in --mount: it must be a key=value pair"),
                };
                continue;
            }
            mount = key switch
            {
                "type" => v.ToLowerInvariant() is "bind" or "cache" or "tmpfs" or "secret" or "ssh"
                    ? mount with { Type = v.ToLowerInvariant() }
                    : throw new InstructionException($"unsupported mount type \"{v}\" (use bind, cache, tmpfs, secret or ssh)"),
                "from" => mount with { From = v },
                "source" or "src" => mount with { Source = v },
                "target" or "dst" or "destination" => mount with { Target = v },
                "readonly" or "ro" => mount with { ReadOnly = ParseBool(key, v) },
                "readwrite" or "rw" => mount with { ReadOnly = !ParseBool(key, v) },
                "required" => mount.Type is "secret" or "ssh"
                    ? mount with { Required = ParseBool(key, v) }
                    : throw new InstructionException($"unexpected key 'required' for mount type '{mount.Type}'"),
                "size" => mount.Type == "tmpfs" ? mount with { Size = v } : throw new InstructionException($"unexpected key 'size' for mount type '{mount.Type}'"),
                "id" => mount with { Id = v },
                "sharing" => v.ToLowerInvariant() is "shared" or "private" or "locked"
                    ? mount with { Sharing = v.ToLowerInvariant() }
                    : throw new InstructionException($"unsupported sharing value \"{v}\" (use shared, private or locked)"),
                "mode" => mount with { Mode = ParseOctal(v) },
                "uid" => mount with { Uid = ParseId("uid", v) },
                "gid" => mount with { Gid = ParseId("gid", v) },
                "env" => mount,
                _ => throw new InstructionException($"unexpected key '{key}' in '{field}'"),
            };
        }
        if (mount.Type is not ("secret" or "ssh" or "cache") && (mount.Mode is not null || mount.Uid is not null || mount.Gid is not null))
        {
            throw new InstructionException($"mode, uid and gid are not allowed for \"{mount.Type}\" type mounts");
        }
        if (mount.Type is "bind" or "cache" or "tmpfs" && string.IsNullOrEmpty(mount.Target))
        {
            throw new InstructionException($"--mount type={mount.Type} needs a target (target=/path)");
        }
        if (mount.Type == "cache" && mount.Id is null)
        {
            mount = mount with { Id = mount.Target };
        }
        return mount;
    }

    private static bool ParseBool(string key, string value) => value.ToLowerInvariant() switch
    {
        "true" or "1" or "t" => true,
        "false" or "0" or "f" => false,
        _ => throw new InstructionException($"invalid value for {key}: {value}"),
    };

    private static int ParseOctal(string value)
    {
        try
        {
            return Convert.ToInt32(value, 8);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new InstructionException($"invalid value {value} for mode (use octal, e.g. 0755)");
        }
    }

    private static int ParseId(string key, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int id) ? id : throw new InstructionException($"invalid value {value} for {key}");

    // Go's encoding/csv rules, as --mount uses: commas separate fields, double quotes group.
    private static List<string> SplitCsv(string value)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < value.Length && value[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"' && field.Length == 0)
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
            {
                field.Append(c);
            }
        }
        if (quoted)
        {
            throw new InstructionException($"--mount value has an unterminated quote: {value}");
        }
        fields.Add(field.ToString());
        return fields.Where(f => f.Length > 0).ToList();
    }

    private static ArgInstruction ParseArg(Request request)
    {
        if (request.Args.Count == 0)
        {
            throw new InstructionException("ARG requires at least one argument");
        }
        var declarations = new List<ArgDeclaration>();
        foreach (string arg in request.Args)
        {
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (eq == 0)
            {
                throw new InstructionException("ARG names can not be blank");
            }
            declarations.Add(eq < 0 ? new ArgDeclaration(arg, null) : new ArgDeclaration(arg[..eq], arg[(eq + 1)..]));
        }
        return request.Base(new ArgInstruction { Args = declarations });
    }

    private static ExposeInstruction ParseExpose(Request request)
    {
        if (request.Args.Count == 0)
        {
            throw new InstructionException("EXPOSE requires at least one argument");
        }
        request.Flags.Parse();
        return request.Base(new ExposeInstruction { Ports = request.Args.Order(StringComparer.Ordinal).ToList() });
    }

    private static VolumeInstruction ParseVolume(Request request)
    {
        if (request.Args.Count == 0)
        {
            throw new InstructionException("VOLUME requires at least one argument");
        }
        request.Flags.Parse();
        var volumes = new List<string>();
        foreach (string v in request.Args)
        {
            string trimmed = v.Trim();
            if (trimmed.Length == 0)
            {
                throw new InstructionException("VOLUME specified can not be an empty string");
            }
            volumes.Add(trimmed);
        }
        return request.Base(new VolumeInstruction { Volumes = volumes });
    }

    private static (List<string> Sources, List<InlineFile> Inline, string Destination) SourcesAndDestination(Request request, string command)
    {
        IReadOnlyList<string> args = request.Args;
        if (args.Count < 2)
        {
            throw new InstructionException($"{command} requires at least two arguments, but only one was provided. Destination could not be determined");
        }
        string destination = args[^1];
        if (DockerfileParser.ParseHeredocOrNull(destination) is not null)
        {
            throw new InstructionException($"{command} cannot accept a heredoc as a destination");
        }
        var bodies = new Dictionary<string, Heredoc>(StringComparer.Ordinal);
        foreach (Heredoc h in request.Node.Heredocs)
        {
            bodies[h.Name] = h;
        }
        var sources = new List<string>();
        var inline = new List<InlineFile>();
        foreach (string source in args.Take(args.Count - 1))
        {
            if (DockerfileParser.ParseHeredocOrNull(source) is { } heredoc)
            {
                string content = bodies.TryGetValue(heredoc.Name, out Heredoc? body) ? body.Content : "";
                if (heredoc.Chomp)
                {
                    content = DockerfileParser.ChompHeredocContent(content);
                }
                inline.Add(new InlineFile(heredoc.Name, content, heredoc.Chomp, heredoc.Expand));
            }
            else
            {
                sources.Add(source);
            }
        }
        return (sources, inline, destination);
    }

    private static CopyInstruction ParseCopy(Request request)
    {
        if (request.Args.Count < 2)
        {
            throw new InstructionException("COPY requires at least two arguments, but only one was provided. Destination could not be determined");
        }
        request.Flags.String("chown").String("from").String("chmod").Bool("link").Strings("exclude").Bool("parents").Parse();
        var (sources, inline, destination) = SourcesAndDestination(request, "COPY");
        return request.Base(new CopyInstruction
        {
            Sources = sources,
            InlineSources = inline,
            Destination = destination,
            From = NullIfEmpty(request.Flags.GetString("from")),
            Chown = NullIfEmpty(request.Flags.GetString("chown")),
            Chmod = NullIfEmpty(request.Flags.GetString("chmod")),
            Link = request.Flags.GetBool("link"),
            Parents = request.Flags.GetBool("parents"),
            Excludes = request.Flags.GetStrings("exclude"),
        });
    }

    private static AddInstruction ParseAdd(Request request)
    {
        if (request.Args.Count < 2)
        {
            throw new InstructionException("ADD requires at least two arguments, but only one was provided. Destination could not be determined");
        }
        request.Flags.String("chown").String("chmod").Bool("link").Bool("keep-git-dir").String("checksum").Bool("unpack").Strings("exclude").Parse();
        var (sources, inline, destination) = SourcesAndDestination(request, "ADD");
        return request.Base(new AddInstruction
        {
            Sources = sources,
            InlineSources = inline,
            Destination = destination,
            Chown = NullIfEmpty(request.Flags.GetString("chown")),
            Chmod = NullIfEmpty(request.Flags.GetString("chmod")),
            Link = request.Flags.GetBool("link"),
            Checksum = NullIfEmpty(request.Flags.GetString("checksum")),
            KeepGitDir = request.Flags.GetOptionalBool("keep-git-dir"),
            Unpack = request.Flags.GetOptionalBool("unpack"),
            Excludes = request.Flags.GetStrings("exclude"),
        });
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static HealthcheckInstruction ParseHealthcheck(Request request)
    {
        if (request.Args.Count == 0)
        {
            throw new InstructionException("HEALTHCHECK requires at least one argument");
        }
        string type = request.Args[0].ToUpperInvariant();
        IReadOnlyList<string> rest = request.Args.Skip(1).ToList();
        if (type == "NONE")
        {
            if (rest.Count != 0)
            {
                throw new InstructionException("HEALTHCHECK NONE takes no arguments");
            }
            return request.Base(new HealthcheckInstruction { Test = ["NONE"] });
        }
        request.Flags.String("interval").String("timeout").String("start-period").String("start-interval").String("retries").Parse();
        if (type != "CMD")
        {
            throw new InstructionException($"Unknown type \"{type}\" in HEALTHCHECK (try CMD)");
        }
        if (rest.Count == 0)
        {
            throw new InstructionException("Missing command after HEALTHCHECK CMD");
        }
        List<string> test = request.Node.IsJson ? ["CMD", .. rest] : ["CMD-SHELL", string.Join(' ', rest)];
        int retries = 0;
        if (request.Flags.GetString("retries") is { } r)
        {
            if (!int.TryParse(r, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out retries))
            {
                throw new InstructionException($"invalid --retries value \"{r}\"");
            }
            if (retries < 0)
            {
                throw new InstructionException($"--retries cannot be negative ({retries})");
            }
        }
        return request.Base(new HealthcheckInstruction
        {
            Test = test,
            Interval = Interval(request, "interval"),
            Timeout = Interval(request, "timeout"),
            StartPeriod = Interval(request, "start-period"),
            StartInterval = Interval(request, "start-interval"),
            Retries = retries,
        });
    }

    private static TimeSpan Interval(Request request, string flag)
    {
        string? value = request.Flags.GetString(flag);
        if (string.IsNullOrEmpty(value))
        {
            return TimeSpan.Zero;
        }
        double nanoseconds = GoDuration.ParseNanoseconds(value) ?? throw new InstructionException($"invalid duration \"{value}\" for --{flag} (use e.g. 30s, 1m30s, 500ms)");
        if (nanoseconds != 0 && nanoseconds < 1e6)
        {
            throw new InstructionException($"Interval \"{flag}\" cannot be less than 1ms");
        }
        return TimeSpan.FromTicks((long)Math.Round(nanoseconds / 100));
    }

    private static ShellInstruction ParseShell(Request request)
    {
        request.Flags.Parse();
        if (request.Args.Count == 0)
        {
            throw new InstructionException("SHELL requires at least one argument");
        }
        if (!request.Node.IsJson)
        {
            throw new InstructionException("SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]");
        }
        return request.Base(new ShellInstruction { Shell = request.Args });
    }

    private static OnbuildInstruction ParseOnbuild(Request request)
    {
        if (request.Args.Count == 0)
        {
            throw new InstructionException("ONBUILD requires at least one argument");
        }
        request.Flags.Parse();
        string trigger = request.Args[0].Trim().ToUpperInvariant();
        switch (trigger)
        {
            case "ONBUILD":
                throw new InstructionException("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
            case "MAINTAINER" or "FROM":
                throw new InstructionException($"{trigger} isn't allowed as an ONBUILD trigger");
        }
        string expression = OnbuildPrefix().Replace(request.Node.Original, "");
        if (request.Node.Heredocs.Count > 0)
        {
            var text = new StringBuilder(expression);
            foreach (Heredoc heredoc in request.Node.Heredocs)
            {
                text.Append('\n').Append(heredoc.Content).Append(heredoc.Name);
            }
            expression = text.ToString();
        }
        return request.Base(new OnbuildInstruction { Expression = expression });
    }
}
