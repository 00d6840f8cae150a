using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Context;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Planning;

namespace Supermachine.Tests.Dockerfile;

public sealed class BuildContextTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-context-").FullName;

    public BuildContextTests()
    {
        Write("src/app.cs", "class App {}");
        Write("src/lib/util.cs", "class Util {}");
        Write("src/notes.md", "notes");
        Write("bin/Debug/app.dll", "binary");
        Write("docs/README.md", "readme");
        Write("docs/internal.md", "internal");
        Write("config.json", "{}");
        Write(".dockerignore", "bin\ndocs\n!docs/README.md\n**/*.tmp\n");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private void Write(string path, string content)
    {
        string full = Path.Combine(_root, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
    }

    private BuildContextDirectory Context() => new(_root);

    [Fact]
    public void Dockerignore_hides_files_and_exceptions_bring_them_back()
    {
        var paths = Context().Entries.Select(e => e.Path).ToList();
        Assert.Contains("src/lib/util.cs", paths);
        Assert.Contains("docs/README.md", paths);
        Assert.DoesNotContain("docs/internal.md", paths);
        Assert.DoesNotContain("bin/Debug/app.dll", paths);
        Assert.DoesNotContain("bin", paths);
    }

    [Fact]
    public void Sources_select_files_directories_and_wildcards()
    {
        BuildContextDirectory context = Context();
        Assert.Equal(["src", "src/app.cs", "src/lib", "src/lib/util.cs", "src/notes.md"], context.Select(["src"]).Select(e => e.Path));
        Assert.Equal(["src/app.cs"], context.Select(["src/*.cs"]).Select(e => e.Path));
        Assert.Equal(["config.json"], context.Select(["/config.json"]).Select(e => e.Path));
        Assert.Equal(["src", "src/app.cs", "src/lib", "src/lib/util.cs"], context.Select(["./src/"], ["*.md"]).Select(e => e.Path));
        var e = Assert.Throws<SupermachineException>(() => context.Select(["bin/Debug/app.dll"], dockerfile: "Dockerfile", line: 7));
        Assert.Equal("SM2213", e.Code);
        Assert.Contains("line 7", e.Message);
        Assert.Equal("SM2213", Assert.Throws<SupermachineException>(() => context.Select(["*.nothing"])).Code);
    }

    [Fact]
    public void Hash_is_stable_and_changes_only_with_what_was_selected()
    {
        string first = Context().HashSources(["src", "config.json"]);
        Assert.StartsWith("sha256:", first);
        Assert.Equal(first, Context().HashSources(["config.json", "src"]));

        // Outside the selection, ignored, or only the timestamp: same digest.
        Write("docs/internal.md", "changed");
        Write("other.txt", "new file");
        File.SetLastWriteTimeUtc(Path.Combine(_root, "config.json"), DateTime.UtcNow.AddDays(-3));
        Assert.Equal(first, Context().HashSources(["src", "config.json"]));

        Write("src/lib/util.cs", "class Util { int x; }");
        string changedContent = Context().HashSources(["src", "config.json"]);
        Assert.NotEqual(first, changedContent);

        Write("src/new.cs", "");
        Assert.NotEqual(changedContent, Context().HashSources(["src", "config.json"]));

        if (!OperatingSystem.IsWindows())
        {
            string before = Context().HashSources(["config.json"]);
            File.SetUnixFileMode(Path.Combine(_root, "config.json"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Assert.NotEqual(before, Context().HashSources(["config.json"]));
        }
    }

    private static async Task<BuildPlan> Plan(string dockerfile, params (string, string)[] buildArgs) =>
        await BuildPlanner.PlanAsync(InstructionParser.Parse(dockerfile), new BuildOptions { Platform = "linux/amd64", BuildArgs = buildArgs.ToDictionary(a => a.Item1, a => a.Item2) });

    private const string AppDockerfile = """
        FROM scratch AS build
        ARG CONFIG=Release
        COPY src /src
        RUN build --configuration $CONFIG
        FROM scratch
        COPY --from=build /out /app
        COPY config.json /app/
        CMD ["/app/run"]
        """;

    /// <summary>A real in-memory implementation of the seam: results are a set of keys; calls are recorded.</summary>
    private sealed class RecordingExecutor : IBuildStepExecutor
    {
        public HashSet<string> Results { get; } = [];

        public List<string> Calls { get; } = [];

        public ValueTask<bool> HasResultAsync(string cacheKey, CancellationToken cancellationToken) => ValueTask.FromResult(Results.Contains(cacheKey));

        public ValueTask BeginStageAsync(PlannedStage stage, StageStart start, CancellationToken cancellationToken)
        {
            Calls.Add($"begin {stage.Stage.DisplayName} {(start.ResumeFromKey is null ? "base" : "resume")}");
            return ValueTask.CompletedTask;
        }

        public ValueTask RunAsync(RunStep step, StepExecution execution, CancellationToken cancellationToken) => Record("run " + step.Argv[^1], execution);

        public ValueTask CopyAsync(CopyStep step, StepExecution execution, CancellationToken cancellationToken) => Record("copy " + step.Destination, execution);

        public ValueTask CreateWorkdirAsync(WorkdirStep step, StepExecution execution, CancellationToken cancellationToken) => Record("workdir " + step.Path, execution);

        public ValueTask EndStageAsync(PlannedStage stage, string resultKey, CancellationToken cancellationToken)
        {
            Results.Add(resultKey);
            Calls.Add($"end {stage.Stage.DisplayName}");
            return ValueTask.CompletedTask;
        }

        private ValueTask Record(string call, StepExecution execution)
        {
            Calls.Add(call);
            Results.Add(execution.CacheKey);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class NoImages : IBuildInputs
    {
        public ValueTask<string> GetImageDigestAsync(string reference, string? platform, CancellationToken cancellationToken) =>
            ValueTask.FromResult("sha256:" + new string('0', 64));
    }

    [Fact]
    public async Task Cache_keys_are_stable_and_follow_context_and_build_args()
    {
        var executor = new RecordingExecutor();
        var runner = new BuildRunner(executor, new NoImages(), Context());

        BuildResult first = await runner.RunAsync(await Plan(AppDockerfile));
        Assert.Equal(4, first.ExecutedSteps);
        Assert.Equal(0, first.CachedSteps);
        Assert.Equal(["begin build base", "copy /src", "run build --configuration $CONFIG", "end build", "begin 1 base", "copy /app", "copy /app/", "end 1"], executor.Calls);

        // Same Dockerfile, same context: same keys, nothing reaches the executor (no VM would start).
        executor.Calls.Clear();
        BuildResult second = await new BuildRunner(executor, new NoImages(), Context()).RunAsync(await Plan(AppDockerfile));
        Assert.Equal(first.TargetKey, second.TargetKey);
        Assert.Equal((0, 4), (second.ExecutedSteps, second.CachedSteps));
        Assert.Empty(executor.Calls);

        // A changed build argument changes the RUN that sees it and everything after.
        executor.Calls.Clear();
        BuildResult debug = await new BuildRunner(executor, new NoImages(), Context()).RunAsync(await Plan(AppDockerfile, ("CONFIG", "Debug")));
        Assert.NotEqual(first.TargetKey, debug.TargetKey);
        Assert.Equal(["begin build resume", "run build --configuration $CONFIG", "end build", "begin 1 base", "copy /app", "copy /app/", "end 1"], executor.Calls);

        // A changed context file of the last COPY re-runs only that step.
        executor.Calls.Clear();
        Write("config.json", "{\"changed\": true}");
        BuildResult changed = await new BuildRunner(executor, new NoImages(), Context()).RunAsync(await Plan(AppDockerfile));
        Assert.NotEqual(first.TargetKey, changed.TargetKey);
        Assert.Equal(first.StageResultKeys[0], changed.StageResultKeys[0]);
        Assert.Equal(["begin 1 resume", "copy /app/", "end 1"], executor.Calls);
    }

    [Fact]
    public async Task Step_key_depends_on_parent_text_and_inputs()
    {
        BuildPlan plan = await Plan("FROM scratch\nRUN a\n");
        BuildStep step = plan.Target.Steps[0];
        string parent = StepCacheKey.ForBase(new StageBase.Scratch(), null, "linux/amd64");
        string key = StepCacheKey.Compute(parent, step, null);
        Assert.Equal(key, StepCacheKey.Compute(parent, step, null));
        Assert.NotEqual(key, StepCacheKey.Compute(parent, step, "context:sha256:1"));
        Assert.NotEqual(key, StepCacheKey.Compute(StepCacheKey.ForBase(new StageBase.Scratch(), null, "linux/arm64"), step, null));
        BuildStep other = (await Plan("FROM scratch\nRUN  b\n")).Target.Steps[0];
        Assert.NotEqual(key, StepCacheKey.Compute(parent, other, null));
        // Line numbers and spelling do not matter: only what the step does.
        BuildStep moved = (await Plan("FROM scratch\n\n# moved\nrun a\n")).Target.Steps[0];
        Assert.Equal(key, StepCacheKey.Compute(parent, moved, null));
    }

    [Fact]
    public async Task Dockerfile_specific_ignore_file_wins_and_plans_from_file()
    {
        string dockerfile = Path.Combine(_root, "build", "App.Dockerfile");
        Write("build/App.Dockerfile", "FROM scratch\nCOPY bin /bin\n");
        Write("build/App.Dockerfile.dockerignore", "docs\n");
        BuildContextDirectory context = BuildContextDirectory.Open(_root, dockerfile);
        Assert.Contains("bin/Debug/app.dll", context.Entries.Select(e => e.Path));
        Assert.DoesNotContain("docs/README.md", context.Entries.Select(e => e.Path));
        Assert.Contains("docs/README.md", BuildContextDirectory.Open(_root).Entries.Select(e => e.Path));

        BuildPlan plan = await BuildPlanner.PlanFileAsync(dockerfile, new BuildOptions());
        Assert.Equal(dockerfile, plan.Dockerfile.SourceName);
        Assert.StartsWith("sha256:", context.HashSources((CopyStep)plan.Target.Steps[0], dockerfile));
    }
}
