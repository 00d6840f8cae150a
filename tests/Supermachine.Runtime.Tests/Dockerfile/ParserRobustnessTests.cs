using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Parsing;
using Supermachine.Dockerfile.Planning;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Dockerfile;

/// <summary>
/// Mangled Dockerfiles (truncated, bytes replaced by syntax characters) must either parse or fail
/// with a coded SM22xx error: never an unexpected exception.
/// </summary>
public class ParserRobustnessTests
{
    private static readonly char[] Noise = ['\\', '`', '"', '\'', '$', '{', '}', '[', ']', '<', '\n', ' ', '=', '-', '#', ':', '\t', 'é'];

    [Fact]
    public async Task Mangled_inputs_parse_or_fail_with_a_coded_error()
    {
        string root = Path.Combine(TestEnvironment.RepositoryRoot, "tests", "Supermachine.Runtime.Tests", "Dockerfile", "conformance", "testfiles");
        var random = new Random(20261122);
        int parsed = 0, rejected = 0;
        foreach (string file in Directory.GetFiles(root, "Dockerfile", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string text = File.ReadAllText(file);
            for (int round = 0; round < 40; round++)
            {
                char[] chars = text[..random.Next(1, text.Length + 1)].ToCharArray();
                for (int i = 0; i < 3 && chars.Length > 0; i++)
                {
                    chars[random.Next(chars.Length)] = Noise[random.Next(Noise.Length)];
                }
                string mangled = "FROM base\n" + new string(chars);
                try
                {
                    DockerfileSyntax syntax = DockerfileParser.Parse(mangled);
                    Assert.NotNull(syntax.Dump());
                    DockerfileInstructions instructions = InstructionParser.Parse(syntax);
                    await BuildPlanner.PlanAsync(instructions, new BuildOptions { Platform = "linux/amd64" });
                    parsed++;
                }
                catch (SupermachineException e)
                {
                    Assert.StartsWith("SM22", e.Code);
                    rejected++;
                }
            }
        }
        Assert.True(parsed > 0 && rejected > 0, $"parsed {parsed}, rejected {rejected}");
    }
}
