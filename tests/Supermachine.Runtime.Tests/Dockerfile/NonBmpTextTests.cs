using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Expansion;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Parsing;

namespace Supermachine.Tests.Dockerfile;

/// <summary>
/// Issue #12 finding 3: characters outside the BMP (two UTF-16 chars each) and binary garbage.
/// The parser walks text by runes, as Go does; before the fix, a surrogate half reached
/// <c>new Rune(ch)</c> and threw ArgumentOutOfRangeException.
/// </summary>
public class NonBmpTextTests
{
    private const string SyntaxCharacters = "\\`\"'${}[]<\n =-#:\t";

    [Theory]
    [InlineData("# build 🚀\nFROM alpine\n")]
    [InlineData("FROM alpine\n# 🚀\nRUN true\n")]
    [InlineData("#🚀\nFROM alpine\n")]
    [InlineData("FROM alpine\n  # indented 🚀  \nRUN true\n")]
    public void Comment_with_an_emoji_parses(string text)
    {
        DockerfileSyntax syntax = DockerfileParser.Parse(text);
        Assert.Contains(syntax.Root.Children, n => n.Value.Equals("from", StringComparison.OrdinalIgnoreCase));
        string comment = syntax.Root.Children.SelectMany(n => n.PrevComment).Single();
        Assert.EndsWith("🚀", comment, StringComparison.Ordinal);
    }

    [Fact]
    public void Emoji_in_instruction_arguments_stay_whole()
    {
        DockerfileSyntax syntax = DockerfileParser.Parse(
            "FROM alpine🚀 AS x\n" +
            "RUN echo 🚀\n" +
            "LABEL a=🚀 b=\"c 🚀\"\n" +
            "ENV E 🚀 🚀\n" +
            "COPY --chown=🚀 --chmod=\\🚀\"🚀\" src🚀 /dst🚀\n" +
            "HEALTHCHECK 🚀\u3000CMD true\n" +
            "ARG 𝑥=🚀\n" +
            "USER 🚀\n");
        Assert.Equal(
            "(from \"alpine🚀\" \"AS\" \"x\")\n" +
            "(run \"echo 🚀\")\n" +
            "(label \"a\" \"🚀\" \"=\" \"b\" \"\\\"c 🚀\\\"\" \"=\")\n" +
            "(env \"E\" \"🚀 🚀\" \"\")\n" +
            "(copy [\"--chown=🚀\" \"--chmod=🚀🚀\"] \"src🚀\" \"/dst🚀\")\n" +
            "(healthcheck \"🚀\" \"CMD true\")\n" +
            "(arg \"𝑥=🚀\")\n" +
            "(user \"🚀\")",
            syntax.Dump());
        // The instruction layer sees whole runes too: its error quotes the emoji intact.
        var e = Assert.Throws<SupermachineException>(() => InstructionParser.Parse(syntax));
        Assert.Equal("SM2203", e.Code);
        Assert.Contains("line 6: Unknown type \"🚀\" in HEALTHCHECK", e.Message);
        DockerfileInstructions instructions = InstructionParser.Parse("FROM alpine\nRUN echo 🚀 # 🚀\nLABEL 🚀=🚀\n");
        Assert.Equal(2, instructions.Stages.Single().Instructions.Count);
    }

    [Fact]
    public void Trailing_emoji_is_not_trimmed_and_trailing_ideographic_space_is()
    {
        Assert.Equal("a 🚀", GoQuote.TrimSpace("\u3000 a 🚀\u2003\t"));
        Assert.Equal("🚀 ", GoQuote.TrimLeftSpace("\u00a0🚀 "));
        // A lone surrogate (only reachable through the string API) is U+FFFD to Go: no space.
        Assert.Equal("\ud83d", GoQuote.TrimSpace(" \ud83d "));
        Assert.False(GoQuote.IsSpace(0xD83D));
        Assert.False(GoQuote.IsSpace(-1));
        Assert.False(GoQuote.IsSpace(0x110000));
        Assert.True(GoQuote.IsSpace(0x3000));
    }

    [Fact]
    public void Shell_lexer_splits_and_expands_by_runes()
    {
        var lexer = new ShellLexer();
        var env = new Dictionary<string, string> { ["𝑥"] = "math", ["A"] = "🚀" };
        Assert.Equal(["a🚀", "b", "c"], lexer.ProcessWords("a🚀 b\u3000c", env));
        Assert.Equal("math 🚀 $🚀", lexer.ProcessWord("$𝑥 ${A} $🚀", env));
        Assert.Equal("🚀", lexer.ProcessWord("${A%%\\*}", env));
        Assert.Equal("", lexer.ProcessWord("${A#🚀}", env));
    }

    [Fact]
    public void Lone_surrogates_in_a_string_parse_or_fail_with_a_code()
    {
        ParseOrReject("FROM a\n# \ud83d\nRUN \ude80 x\n");
        ParseOrReject("FROM a\nCOPY --chown=\ud83d \ude80 /\n");
        ParseOrReject("FROM a\nLABEL \ud83d=\ude80\nENV \ud83d\n");
        ParseOrReject("FROM \ud83d\n");
    }

    [Fact]
    public void Binary_garbage_parses_or_fails_with_a_code_never_another_exception()
    {
        var random = new Random(12_03);
        byte[] utf8Emoji = Encoding.UTF8.GetBytes("🚀");
        int parsed = 0, rejected = 0;
        for (int round = 0; round < 400; round++)
        {
            var bytes = new List<byte>();
            if (round % 2 == 0)
            {
                bytes.AddRange("FROM a\n"u8.ToArray());
            }
            int length = random.Next(1, 200);
            for (int i = 0; i < length; i++)
            {
                switch (random.Next(6))
                {
                    case 0:
                        bytes.AddRange(utf8Emoji);
                        break;
                    case 1:
                        bytes.Add((byte)SyntaxCharacters[random.Next(SyntaxCharacters.Length)]);
                        break;
                    case 2:
                        // Truncated or stray UTF-8 sequences: lead bytes with no continuation.
                        bytes.Add((byte)random.Next(0x80, 0x100));
                        break;
                    default:
                        bytes.Add((byte)random.Next(0, 0x100));
                        break;
                }
            }
            if (ParseOrReject(bytes.ToArray()))
            {
                parsed++;
            }
            else
            {
                rejected++;
            }
        }
        Assert.True(parsed > 0 && rejected > 0, $"parsed {parsed}, rejected {rejected}");
    }

    private static bool ParseOrReject(string text) => ParseOrReject(() => DockerfileParser.Parse(text));

    private static bool ParseOrReject(byte[] bytes) => ParseOrReject(() => DockerfileParser.Parse(bytes));

    private static bool ParseOrReject(Func<DockerfileSyntax> parse)
    {
        try
        {
            DockerfileSyntax syntax = parse();
            Assert.NotNull(syntax.Dump());
            InstructionParser.Parse(syntax);
            return true;
        }
        catch (SupermachineException e)
        {
            Assert.StartsWith("SM22", e.Code);
            return false;
        }
    }
}
