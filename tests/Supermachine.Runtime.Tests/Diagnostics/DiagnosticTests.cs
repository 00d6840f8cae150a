using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Diagnostics;

/// <summary>
/// The table (Strings.resx) and its typed accessors (Errors, Warnings) agree: every code has one
/// accessor whose parameters match its placeholders, every accessor is used by the product, and
/// no product code names a code as a string.
/// </summary>
public partial class DiagnosticTests
{
    private static readonly Dictionary<string, string> Table = XDocument
        .Load(Path.Combine(TestEnvironment.RepositoryRoot, "Supermachine.Runtime", "Diagnostics", "Strings.resx"))
        .Root!.Elements("data")
        .ToDictionary(d => (string)d.Attribute("name")!, d => (string)d.Element("value")!);

    private static readonly MethodInfo[] Accessors = typeof(Errors).GetMethods(BindingFlags.Public | BindingFlags.Static)
        .Concat(typeof(Warnings).GetMethods(BindingFlags.Public | BindingFlags.Static))
        .ToArray();

    [Fact]
    public void An_accessor_carries_its_code_the_formatted_message_and_the_cause()
    {
        var cause = new IOException("connection refused");
        SupermachineException e = Errors.AddDownloadFailed("Dockerfile", 3, "https://example.test/a.tgz", "refused", cause);
        Assert.Equal("SM2217", e.Code);
        Assert.Equal(Errors.Codes.AddDownloadFailed, e.Code);
        Assert.StartsWith("SM2217: ", e.Message);
        Assert.Contains("line 3", e.Message);
        Assert.Contains("https://example.test/a.tgz", e.Text);
        Assert.Same(cause, e.InnerException);
        Assert.Equal(DiagnosticArea.Dockerfile, e.Area);
        Assert.StartsWith("SM4002: ", Warnings.UnusedBuildArg("api", "VERSION"));
    }

    [Fact]
    public void Unknown_code_is_a_programming_error()
    {
        Assert.Throws<InvalidOperationException>(() => Diagnostic.Message("SM0000"));
    }

    [Fact]
    public void Every_code_of_the_table_has_exactly_one_accessor_whose_parameters_match_its_placeholders()
    {
        var seen = new Dictionary<string, string>();
        foreach (MethodInfo accessor in Accessors)
        {
            ParameterInfo[] parameters = accessor.GetParameters().Where(p => p.ParameterType != typeof(Exception)).ToArray();
            object?[] args = accessor.GetParameters().Select(p => p.ParameterType == typeof(Exception) ? null : (object?)$"<{p.Name}>").ToArray();
            object result = accessor.Invoke(null, args)!;
            string code = result is SupermachineException e ? e.Code : ((string)result)[..6];
            Assert.True(seen.TryAdd(code, accessor.Name), $"{code} has two accessors: {seen.GetValueOrDefault(code)} and {accessor.Name}");
            Assert.True(Table.ContainsKey(code), $"{accessor.Name} uses {code}, which is not in Strings.resx");
            int placeholders = Placeholder().Matches(Table[code]).Select(m => m.Groups[1].Value).Distinct().Count();
            Assert.True(parameters.Length == placeholders, $"{accessor.Name} ({code}) takes {parameters.Length} arguments for {placeholders} placeholders");
            string text = result is SupermachineException ex ? ex.Text : (string)result;
            Assert.All(parameters, p => Assert.Contains($"<{p.Name}>", text));
            if (code.StartsWith("SM4", StringComparison.Ordinal))
            {
                Assert.True(accessor.DeclaringType == typeof(Warnings), $"{code} is a warning: its accessor belongs in Warnings");
            }
            if (accessor.DeclaringType == typeof(Errors))
            {
                Assert.Equal(code, typeof(Errors.Codes).GetField(accessor.Name)?.GetRawConstantValue());
            }
        }
        Assert.Empty(Table.Keys.Except(seen.Keys));
    }

    [Fact]
    public void Every_entry_of_the_table_is_a_well_formed_code_with_contiguous_placeholders()
    {
        foreach (var (code, text) in Table)
        {
            Assert.Matches(new Regex("^SM[1-9][0-9]{3}$"), code);
            int[] numbers = Placeholder().Matches(text).Select(m => int.Parse(m.Groups[1].Value)).Distinct().Order().ToArray();
            Assert.Equal(Enumerable.Range(0, numbers.Length), numbers);
        }
    }

    [Fact]
    public void Every_accessor_is_used_and_no_product_code_names_a_code_as_a_string()
    {
        string[] sources = new[] { "Supermachine.Runtime", "Supermachine.Tasks" }
            .SelectMany(project => Directory.EnumerateFiles(Path.Combine(TestEnvironment.RepositoryRoot, project), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal))
            .Where(f => !f.EndsWith("Diagnostics/Errors.cs", StringComparison.Ordinal) && !f.EndsWith("Diagnostics/Warnings.cs", StringComparison.Ordinal))
            .ToArray();
        string all = string.Join('\n', sources.Select(File.ReadAllText));
        foreach (MethodInfo accessor in Accessors)
        {
            Assert.True(all.Contains($"{accessor.DeclaringType!.Name}.{accessor.Name}(", StringComparison.Ordinal)
                || all.Contains($"Codes.{accessor.Name}", StringComparison.Ordinal),
                $"{accessor.DeclaringType.Name}.{accessor.Name} is never used: use it, or remove it and its entry from Strings.resx");
        }
        foreach (string file in sources)
        {
            string code = CommentOrDocumentation().Replace(File.ReadAllText(file), "");
            Match named = CodeLiteral().Match(code);
            Assert.False(named.Success, $"{Path.GetFileName(file)} names {named.Value} as a string: use the typed accessor in Errors or Warnings instead");
        }
    }

    [GeneratedRegex(@"\{(\d+)")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"""SM\d{4}""")]
    private static partial Regex CodeLiteral();

    [GeneratedRegex(@"//[^\n]*")]
    private static partial Regex CommentOrDocumentation();
}
