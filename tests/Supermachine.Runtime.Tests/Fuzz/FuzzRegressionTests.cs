using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Planning;
using Supermachine.Fuzz.Targets;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fuzz;

/// <summary>
/// Every input eng/fuzz.sh once crashed on, replayed through the same fuzz target: it must now
/// end in a result or a coded SupermachineException. Add a crash input to
/// Fuzz/regressions/TARGET/ with its fix (eng/fuzz.sh replays them too, and seeds from them).
/// </summary>
public class FuzzRegressionTests
{
    private static readonly string Root = Path.Combine(TestEnvironment.RepositoryRoot, "tests", "Supermachine.Runtime.Tests", "Fuzz", "regressions");

    private static readonly IFuzzTarget[] Targets = [new DockerfileTarget(), new FlattenerTarget(), new SquashfsTarget(), new FramesTarget(), new SessionTarget()];

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (string file in Directory.GetFiles(Root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(Path.GetDirectoryName(file))!, Path.GetFileName(file));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Crash_input_now_parses_or_is_rejected_with_a_code(string target, string name)
    {
        IFuzzTarget fuzzTarget = Targets.Single(t => t.Name == target);
        byte[] input = File.ReadAllBytes(Path.Combine(Root, target, name));
        try
        {
            fuzzTarget.Run(input);
        }
        catch (SupermachineException e)
        {
            Assert.Matches("^SM[0-9]{4}$", e.Code);
        }
    }

    [Fact]
    public void Seeds_of_every_target_run_clean()
    {
        foreach (IFuzzTarget target in Targets)
        {
            foreach (var (name, content) in target.Seeds())
            {
                try
                {
                    target.Run(content);
                }
                catch (SupermachineException e) when (target is not SessionTarget)
                {
                    // A rejected seed covers only the rejection. (Session seeds end in a guest error or a
                    // closed channel by design: the fake guest stops after its script.)
                    Assert.Fail($"{target.Name} seed {name} is rejected, so it seeds nothing: {e.Message}");
                }
                catch (SupermachineException e)
                {
                    Assert.StartsWith("SM3", e.Code);
                }
            }
        }
    }

    [Fact]
    public async Task Dockerfile_with_only_global_args_is_SM2230()
    {
        DockerfileInstructions instructions = InstructionParser.Parse("ARG A=1\nARG B\n", "only-args");
        var e = await Assert.ThrowsAsync<SupermachineException>(async () => await BuildPlanner.PlanAsync(instructions, new BuildOptions { Platform = "linux/amd64" }));
        Assert.Equal("SM2230", e.Code);
        Assert.Contains("'only-args'", e.Message);
        Assert.Contains("line 2", e.Message);
    }

    [Theory]
    [InlineData("COPY <<f'/ /d\n")]
    [InlineData("COPY src <<\"x /d\n")]
    [InlineData("COPY <<${\"} /d\n")]
    [InlineData("RUN <<'E\n")]
    public void Unlexable_heredoc_words_are_no_heredocs_to_the_instruction_parser(string line)
    {
        try
        {
            DockerfileInstructions parsed = InstructionParser.Parse("FROM a\n" + line);
            Assert.Single(parsed.Stages);
        }
        catch (SupermachineException e)
        {
            Assert.StartsWith("SM22", e.Code);
        }
    }
}
