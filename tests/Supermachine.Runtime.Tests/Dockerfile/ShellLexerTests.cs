using Supermachine.Dockerfile.Expansion;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Dockerfile;

/// <summary>BuildKit's shell lexer cases (shell-lexer/, Apache-2.0) plus the modifiers the issue names.</summary>
public class ShellLexerTests
{
    private static readonly string Data = Path.Combine(TestEnvironment.RepositoryRoot, "tests", "Supermachine.Runtime.Tests", "Dockerfile", "shell-lexer");

    private static readonly Dictionary<string, string> EnvVarTestEnvironment = new()
    {
        ["PWD"] = "/home",
        ["SHELL"] = "bash",
        ["KOREAN"] = "한국어",
        ["NULL"] = "",
    };

    public static TheoryData<int, string, string> EnvVarCases()
    {
        var data = new TheoryData<int, string, string>();
        string[] lines = File.ReadAllLines(Path.Combine(Data, "envVarTest"));
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.StartsWith('#') || line.Trim().Length == 0)
            {
                continue;
            }
            string[] parts = line.Trim().Split('|');
            Assert.Equal(3, parts.Length);
            string platform = parts[0].Trim();
            if (platform is "A" or "U")
            {
                data.Add(i + 1, parts[1].Trim(), parts[2].Trim());
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EnvVarCases))]
    public void EnvVarTest_case(int line, string source, string expected)
    {
        var lexer = new ShellLexer('\\');
        if (expected == "error")
        {
            Assert.Throws<ShellExpansionException>(() => lexer.ProcessWord(source, EnvVarTestEnvironment));
        }
        else
        {
            Assert.True(line > 0);
            Assert.Equal(expected, lexer.ProcessWord(source, EnvVarTestEnvironment));
        }
    }

    // BuildKit's test also declares a RawQuotes+SkipUnsetEnv pass over this file, but it reuses a
    // consumed reader so that pass checks nothing; SkipUnsetEnv has its own test below.
    [Fact]
    public void WordsTest_cases_split_like_buildkit()
    {
        var lexer = new ShellLexer('\\');
        var env = new Dictionary<string, string>();
        int checkedCases = 0;
        string[] lines = File.ReadAllLines(Path.Combine(Data, "wordsTest"));
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.StartsWith('#'))
            {
                continue;
            }
            if (line.StartsWith("ENV ", StringComparison.Ordinal))
            {
                string assignment = line[3..].TrimStart(' ');
                int eq = assignment.IndexOf('=');
                env[assignment[..eq]] = assignment[(eq + 1)..];
                continue;
            }
            string[] parts = line.Split('|');
            Assert.Equal(2, parts.Length);
            string test = parts[0].Trim();
            string[] expected = parts[1].TrimStart(' ').Split(',');
            IReadOnlyList<string> actual;
            try
            {
                actual = lexer.ProcessWords(test, env);
            }
            catch (ShellExpansionException)
            {
                actual = ["error"];
            }
            Assert.True(expected.SequenceEqual(actual), $"line {i + 1}: {test} -> [{string.Join(",", actual)}], expected [{string.Join(",", expected)}]");
            checkedCases++;
        }
        Assert.True(checkedCases > 20);
    }

    [Theory]
    [InlineData("${A:-x}", "x")]      // unset -> default
    [InlineData("${E:-x}", "x")]      // empty counts as unset with ':'
    [InlineData("${E-x}", "")]        // ...but not without ':'
    [InlineData("${A-x}", "x")]
    [InlineData("${S:-x}", "set")]
    [InlineData("${S:+x}", "x")]
    [InlineData("${E:+x}", "")]
    [InlineData("${E+x}", "x")]       // set (even empty) -> alternative
    [InlineData("${A+x}", "")]
    [InlineData("${P#*/}", "b/c.tar.gz")]
    [InlineData("${P##*/}", "c.tar.gz")]
    [InlineData("${P%.*}", "a/b/c.tar")]
    [InlineData("${P%%.*}", "a/b/c")]
    [InlineData("${P/b/x}", "a/x/c.tar.gz")]
    [InlineData("${P//[.]/_}", "a/b/c.tar.gz")] // brackets are literal, not a class
    [InlineData("'$S'\"$S\"\\$S", "$Sset$S")]
    public void Modifiers_follow_buildkit(string word, string expected)
    {
        var env = new Dictionary<string, string> { ["S"] = "set", ["E"] = "", ["P"] = "a/b/c.tar.gz" };
        Assert.Equal(expected, new ShellLexer().ProcessWord(word, env));
    }

    [Fact]
    public void Mandatory_variables_report_their_message()
    {
        var lexer = new ShellLexer();
        Assert.Equal("plain", lexer.ProcessWord("${VAR:?message here$ARG}", new Dictionary<string, string> { ["VAR"] = "plain", ["ARG"] = "x" }));
        var empty = Assert.Throws<ShellExpansionException>(() => lexer.ProcessWord("${VAR:?message here$ARG}", new Dictionary<string, string> { ["VAR"] = "", ["ARG"] = "x" }));
        Assert.Contains("message herex", empty.Message);
        Assert.Equal("", lexer.ProcessWord("${VAR?message}", new Dictionary<string, string> { ["VAR"] = "" }));
        Assert.Throws<ShellExpansionException>(() => lexer.ProcessWord("${VAR?message}", new Dictionary<string, string>()));
    }

    [Fact]
    public void Skipping_unset_variables_keeps_them_as_written()
    {
        var lexer = new ShellLexer { SkipUnsetEnv = true, RawQuotes = true };
        var env = new Dictionary<string, string> { ["A"] = "1" };
        Assert.Equal("1 $B ${C} ${D:-x} '$A'", lexer.ProcessWord("$A $B ${C} ${D:-x} '$A'", env));
    }

    [Fact]
    public void Backtick_escape_token_escapes_like_backslash()
    {
        var lexer = new ShellLexer('`');
        Assert.Equal("$X \\n", lexer.ProcessWord("`$X \\n", new Dictionary<string, string> { ["X"] = "1" }));
    }

    [Fact]
    public void Matches_report_found_and_missing_variables()
    {
        ExpansionResult result = new ShellLexer().ProcessWordWithMatches("$A ${B:-x}", new Dictionary<string, string> { ["A"] = "1" });
        Assert.Equal("1 x", result.Result);
        Assert.Contains("A", result.Matched);
        Assert.Contains("B", result.Unmatched);
    }
}
