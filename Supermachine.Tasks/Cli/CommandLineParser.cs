namespace Supermachine.Tasks.Cli;

/// <summary>Thrown for arguments that do not fit a command; the message says which and why.</summary>
internal sealed class UsageException(string message, CommandSpec? command = null) : Exception(message)
{
    public CommandSpec? Command { get; } = command;
}

/// <summary>What the user asked for: run a command, or show help or the version.</summary>
internal abstract record Invocation
{
    public sealed record Run(ParsedCommand Command) : Invocation;

    public sealed record Help(CommandSpec? Command) : Invocation;

    public sealed record Version : Invocation;
}

/// <summary>
/// A small, strict parser: "--name value", "--name=value", "-n value", repeatable options, and a
/// lone "--" after which everything is passed through. No dependency, so the bake host starts fast.
/// </summary>
internal static class CommandLineParser
{
    public static Invocation Parse(IReadOnlyList<string> args, IReadOnlyList<CommandSpec> commands)
    {
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help" && args.Count == 1)
        {
            return new Invocation.Help(null);
        }
        if (args[0] is "--version" or "-v")
        {
            return new Invocation.Version();
        }
        if (args[0] == "help")
        {
            return new Invocation.Help(Find(args.Skip(1).ToList(), commands, out _));
        }

        CommandSpec command = Find(args, commands, out int consumed)
            ?? throw new UsageException(args[0].StartsWith('-')
                ? $"Expected a command before '{args[0]}'"
                : $"Unknown command '{string.Join(' ', args.Take(2))}'");

        var positional = new List<string>();
        var options = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var trailing = new List<string>();

        for (int i = consumed; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--")
            {
                if (!command.AcceptsTrailingArguments)
                {
                    throw new UsageException("'--' is not accepted here", command);
                }
                trailing.AddRange(args.Skip(i + 1));
                break;
            }
            if (arg is "-h" or "--help")
            {
                return new Invocation.Help(command);
            }
            if (arg.Length > 1 && arg[0] == '-' && !IsNegativeNumber(arg))
            {
                string name;
                string? inlineValue = null;
                OptionSpec? spec;
                if (arg.StartsWith("--", StringComparison.Ordinal))
                {
                    int eq = arg.IndexOf('=');
                    name = eq < 0 ? arg[2..] : arg[2..eq];
                    inlineValue = eq < 0 ? null : arg[(eq + 1)..];
                    spec = command.Options.FirstOrDefault(o => o.Name == name);
                }
                else
                {
                    name = arg[1..];
                    spec = command.Options.FirstOrDefault(o => o.ShortName == name);
                }
                if (spec is null)
                {
                    throw new UsageException($"Unknown option '{arg}' for '{command.Name}'", command);
                }

                string value;
                if (spec.TakesValue)
                {
                    if (inlineValue is not null)
                    {
                        value = inlineValue;
                    }
                    else if (i + 1 < args.Count)
                    {
                        value = args[++i];
                    }
                    else
                    {
                        throw new UsageException($"Option '--{spec.Name}' needs a value ({spec.ValueName})", command);
                    }
                }
                else
                {
                    if (inlineValue is not null)
                    {
                        throw new UsageException($"Option '--{spec.Name}' takes no value", command);
                    }
                    value = "true";
                }

                if (!options.TryGetValue(spec.Name, out var list))
                {
                    options[spec.Name] = list = [];
                }
                else if (!spec.Repeatable)
                {
                    throw new UsageException($"Option '--{spec.Name}' may be given only once", command);
                }
                list.Add(value);
                continue;
            }
            positional.Add(arg);
        }

        if (positional.Count < command.MinArguments)
        {
            throw new UsageException($"'{command.Name}' needs {command.Arguments}", command);
        }
        if (positional.Count > command.MaxArguments)
        {
            throw new UsageException($"Unexpected argument '{positional[command.MaxArguments]}' for '{command.Name}'", command);
        }
        return new Invocation.Run(new ParsedCommand(command, positional, options, trailing));
    }

    private static CommandSpec? Find(IReadOnlyList<string> args, IReadOnlyList<CommandSpec> commands, out int consumed)
    {
        // Longest match first, so "dockerfile parse" wins over a hypothetical "dockerfile".
        foreach (CommandSpec command in commands.OrderByDescending(c => c.Words.Length))
        {
            string[] words = command.Words;
            if (args.Count >= words.Length && words.Select((w, i) => args[i] == w).All(b => b))
            {
                consumed = words.Length;
                return command;
            }
        }
        consumed = 0;
        return null;
    }

    private static bool IsNegativeNumber(string arg) => arg.Length > 1 && arg[0] == '-' && char.IsAsciiDigit(arg[1]);
}
