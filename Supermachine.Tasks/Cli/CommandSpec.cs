namespace Supermachine.Tasks.Cli;

/// <summary>An option a command accepts. <see cref="Name"/> is the long form without dashes.</summary>
internal sealed record OptionSpec(string Name, string? ShortName, string? ValueName, string Help, bool Repeatable = false)
{
    public bool TakesValue => ValueName is not null;

    public string Display => (ShortName is null ? "" : $"-{ShortName}, ") + $"--{Name}" + (ValueName is null ? "" : $" {ValueName}");
}

/// <summary>
/// A verb of the command line: its words (one or two, e.g. "dockerfile parse"), what it takes and
/// the handler that runs it.
/// </summary>
internal sealed record CommandSpec(
    string Name,
    string Arguments,
    string Summary,
    int MinArguments,
    int MaxArguments,
    IReadOnlyList<OptionSpec> Options,
    Func<ParsedCommand, CancellationToken, Task<int>> Run,
    bool AcceptsTrailingArguments = false)
{
    public string[] Words => Name.Split(' ');

    public string Usage => $"supermachine {Name}" + (Arguments.Length == 0 ? "" : " " + Arguments);
}

/// <summary>The outcome of parsing: a command with its positional arguments, options and anything after "--".</summary>
internal sealed class ParsedCommand
{
    private readonly Dictionary<string, List<string>> _options;

    public ParsedCommand(CommandSpec spec, IReadOnlyList<string> arguments, Dictionary<string, List<string>> options, IReadOnlyList<string> trailing)
    {
        Spec = spec;
        Arguments = arguments;
        _options = options;
        Trailing = trailing;
    }

    public CommandSpec Spec { get; }

    public IReadOnlyList<string> Arguments { get; }

    /// <summary>Arguments after a lone "--", passed through untouched (e.g. the argv of <c>exec</c>).</summary>
    public IReadOnlyList<string> Trailing { get; }

    public bool Has(string option) => _options.ContainsKey(option);

    public string? Value(string option) => _options.TryGetValue(option, out var v) ? v[^1] : null;

    public IReadOnlyList<string> Values(string option) => _options.TryGetValue(option, out var v) ? v : [];
}
