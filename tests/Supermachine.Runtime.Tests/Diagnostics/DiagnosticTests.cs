using System.Text.RegularExpressions;
using System.Xml.Linq;
using Supermachine.Diagnostics;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Diagnostics;

public class DiagnosticTests
{
    [Fact]
    public void Error_carries_the_code_and_the_formatted_message()
    {
        SupermachineException e = Diagnostic.Error("SM2217", "Dockerfile", 3, "https://example.test/a.tgz", "connection refused");
        Assert.Equal("SM2217", e.Code);
        Assert.StartsWith("SM2217: ", e.Message);
        Assert.Contains("line 3", e.Message);
        Assert.Contains("https://example.test/a.tgz", e.Text);
    }

    [Fact]
    public void Unknown_code_is_a_programming_error()
    {
        Assert.Throws<InvalidOperationException>(() => Diagnostic.Message("SM0000"));
    }

    [Fact]
    public void Every_entry_of_the_table_is_a_well_formed_unique_code_whose_placeholders_format()
    {
        string resx = Path.Combine(TestEnvironment.RepositoryRoot, "Supermachine.Runtime", "Diagnostics", "Strings.resx");
        var names = XDocument.Load(resx).Root!.Elements("data").Select(d => (string)d.Attribute("name")!).ToList();
        Assert.NotEmpty(names);
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (string name in names)
        {
            Assert.Matches(new Regex("^SM[1-9][0-9]{3}$"), name);
            // Formatting with plenty of arguments must not throw: placeholders are numbered and contiguous.
            string text = Diagnostic.Message(name, Enumerable.Range(0, 10).Select(i => (object?)$"arg{i}").ToArray());
            Assert.False(string.IsNullOrWhiteSpace(text));
        }
    }
}
