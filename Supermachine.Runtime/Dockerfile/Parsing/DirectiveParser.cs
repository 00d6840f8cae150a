using System.Text.RegularExpressions;

namespace Supermachine.Dockerfile.Parsing;

/// <summary>A parser directive from the top of a Dockerfile (<c># syntax=...</c>, <c># escape=`</c>, <c># check=...</c>).</summary>
internal sealed record ParserDirective(string Name, string Value, int Line);

/// <summary>
/// Recognises parser directives: comment lines of the form <c># name=value</c> before any other
/// content. The first line that is not a directive ends the directive section for good, and each
/// directive may appear once.
/// </summary>
internal sealed partial class DirectiveParser
{
    private static readonly HashSet<string> Known = new(StringComparer.Ordinal) { "syntax", "escape", "check" };
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private int _line;
    private bool _done;

    // Trailing space is trimmed before matching: a lazy value group followed by a space run made
    // the engine backtrack quadratically on a long line of trailing spaces.
    [GeneratedRegex(@"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+)\z", RegexOptions.CultureInvariant)]
    private static partial Regex DirectivePattern();

    private static readonly char[] TrailingSpace = ['\t', '\n', '\f', '\r', ' '];

    /// <summary>The directive on <paramref name="line"/> (line ending already removed), or null.</summary>
    /// <exception cref="DockerfileSyntaxException">A directive repeated.</exception>
    public ParserDirective? ParseLine(string line)
    {
        _line++;
        if (_done)
        {
            return null;
        }
        if (!line.StartsWith('#'))
        {
            _done = true;
            return null;
        }
        Match match = DirectivePattern().Match(GoQuote.TrimLeftSpace(line[1..]).TrimEnd(TrailingSpace));
        if (!match.Success)
        {
            _done = true;
            return null;
        }
        string name = match.Groups[1].Value.ToLowerInvariant();
        if (!Known.Contains(name))
        {
            _done = true;
            return null;
        }
        if (!_seen.Add(name))
        {
            throw new DockerfileSyntaxException($"only one {name} parser directive can be used");
        }
        return new ParserDirective(name, match.Groups[2].Value, _line);
    }
}
