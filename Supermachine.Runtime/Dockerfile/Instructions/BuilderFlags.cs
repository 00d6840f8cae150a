namespace Supermachine.Dockerfile.Instructions;

/// <summary>
/// The <c>--name[=value]</c> flags of one instruction, checked against the flags it accepts with
/// BuildKit's rules: unknown and repeated flags are errors (except list flags such as
/// <c>--mount</c>), string flags need a value, boolean flags take none or true/false.
/// </summary>
internal sealed class BuilderFlags
{
    private readonly IReadOnlyList<string> _args;
    private readonly Dictionary<string, Kind> _declared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public BuilderFlags(IReadOnlyList<string> args)
    {
        _args = args;
    }

    private enum Kind
    {
        Bool,
        String,
        Strings,
    }

    public BuilderFlags Bool(string name) => Declare(name, Kind.Bool);

    public BuilderFlags String(string name) => Declare(name, Kind.String);

    public BuilderFlags Strings(string name) => Declare(name, Kind.Strings);

    private BuilderFlags Declare(string name, Kind kind)
    {
        _declared[name] = kind;
        return this;
    }

    /// <exception cref="InstructionException">An unknown, repeated or malformed flag.</exception>
    public BuilderFlags Parse()
    {
        foreach (string arg in _args)
        {
            if (arg == "--")
            {
                break;
            }
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new InstructionException($"arg should start with -- : {arg}");
            }
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            string flagName = eq < 0 ? arg : arg[..eq];
            string? value = eq < 0 ? null : arg[(eq + 1)..];
            string name = flagName[2..];
            if (!_declared.TryGetValue(name, out Kind kind))
            {
                string accepted = _declared.Count == 0 ? "none" : string.Join(", ", _declared.Keys.Order(StringComparer.Ordinal).Select(k => "--" + k));
                throw new InstructionException($"unknown flag: {flagName} (accepted flags: {accepted})");
            }
            if (_values.ContainsKey(name) && kind != Kind.Strings)
            {
                throw new InstructionException($"duplicate flag specified: {flagName}");
            }
            switch (kind)
            {
                case Kind.Bool:
                    if (value == "")
                    {
                        throw new InstructionException($"missing a value on flag: {flagName}");
                    }
                    string normalized = (value ?? "true").ToLowerInvariant();
                    if (normalized is not ("true" or "false"))
                    {
                        throw new InstructionException($"expecting boolean value for flag {flagName}, not: {value}");
                    }
                    _values[name] = [normalized];
                    break;
                default:
                    if (value is null)
                    {
                        throw new InstructionException($"missing a value on flag: {flagName}");
                    }
                    if (!_values.TryGetValue(name, out List<string>? list))
                    {
                        _values[name] = list = [];
                    }
                    list.Add(value);
                    break;
            }
        }
        return this;
    }

    public bool IsUsed(string name) => _values.ContainsKey(name);

    public string? GetString(string name) => _values.TryGetValue(name, out List<string>? v) ? v[^1] : null;

    public bool GetBool(string name) => GetString(name) == "true";

    public bool? GetOptionalBool(string name) => IsUsed(name) ? GetBool(name) : null;

    public IReadOnlyList<string> GetStrings(string name) => _values.TryGetValue(name, out List<string>? v) ? v : [];
}

/// <summary>A problem with one instruction's flags or arguments; the parser adds file and line (SM2203).</summary>
internal sealed class InstructionException : Exception
{
    public InstructionException(string message)
        : base(message)
    {
    }
}
