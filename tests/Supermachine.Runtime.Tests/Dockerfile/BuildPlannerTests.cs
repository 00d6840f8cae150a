using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Instructions;
using Supermachine.Dockerfile.Planning;

namespace Supermachine.Tests.Dockerfile;

public class BuildPlannerTests
{
    private static Task<BuildPlan> Plan(string text, BuildOptions? options = null, IBaseImageResolver? images = null) =>
        BuildPlanner.PlanAsync(InstructionParser.Parse(text), options ?? new BuildOptions { Platform = "linux/amd64" }, images).AsTask();

    private static BuildOptions Args(params (string Name, string Value)[] args) =>
        new() { Platform = "linux/amd64", BuildArgs = args.ToDictionary(a => a.Name, a => a.Value) };

    private sealed class FixedImages(Dictionary<string, ImageConfig> configs) : IBaseImageResolver
    {
        public List<(string Reference, string? Platform)> Requests { get; } = [];

        public ValueTask<ImageConfig> GetConfigAsync(string reference, string? platform, CancellationToken cancellationToken)
        {
            Requests.Add((reference, platform));
            return ValueTask.FromResult(configs.TryGetValue(reference, out ImageConfig? c) ? c : new ImageConfig());
        }
    }

    [Fact]
    public async Task Global_args_expand_from_lines_and_build_args_override_defaults()
    {
        const string df = "ARG BASE=alpine\nARG TAG=3.${MINOR:-19}\nFROM ${BASE}:${TAG} AS app\n";
        BuildPlan plain = await Plan(df);
        Assert.Equal(new StageBase.Image("alpine:3.19", null), plain.Target.Base);

        BuildPlan overridden = await Plan(df, Args(("TAG", "edge"), ("UNUSED", "1")));
        Assert.Equal(new StageBase.Image("alpine:edge", null), overridden.Target.Base);
        Assert.Equal(["UNUSED"], overridden.UnusedBuildArgs);
    }

    [Fact]
    public async Task Global_args_are_visible_in_a_stage_only_when_redeclared()
    {
        const string df = """
            ARG VERSION=1.0
            FROM scratch AS a
            ENV SEEN=[$VERSION]
            FROM scratch AS b
            ARG VERSION
            ENV SEEN=[$VERSION]
            FROM scratch AS c
            ARG VERSION=2.0
            ENV SEEN=[$VERSION]
            """;
        BuildPlan plan = await Plan(df);
        Assert.Equal("[]", (await Plan(df, new BuildOptions { Target = "a" })).Target.Config!.GetEnv("SEEN"));
        Assert.Equal("[1.0]", (await Plan(df, new BuildOptions { Target = "b" })).Target.Config!.GetEnv("SEEN"));
        Assert.Equal("[2.0]", plan.Target.Config!.GetEnv("SEEN"));
        // A build argument wins over both the global and the stage default.
        Assert.Equal("[9]", (await Plan(df, Args(("VERSION", "9")))).Target.Config!.GetEnv("SEEN"));
        Assert.Equal("[9]", (await Plan(df, new BuildOptions { Target = "b", BuildArgs = new Dictionary<string, string> { ["VERSION"] = "9" } })).Target.Config!.GetEnv("SEEN"));
    }

    [Fact]
    public async Task Args_reach_run_but_not_the_image_env()
    {
        BuildPlan plan = await Plan("FROM scratch\nARG MODE=debug\nENV HOME=/root\nRUN make $MODE\nARG LATE=x\n");
        RunStep run = Assert.IsType<RunStep>(Assert.Single(plan.Target.Steps));
        Assert.Equal(["PATH=" + BuildPlanner.DefaultPath, "MODE=debug", "HOME=/root"], run.Env);
        Assert.Equal(["/bin/sh", "-c", "make $MODE"], run.Argv);
        Assert.Equal(["PATH=" + BuildPlanner.DefaultPath, "HOME=/root"], plan.Target.Config!.Env);
        Assert.Equal("x", plan.Target.Args["LATE"]);
    }

    [Fact]
    public async Task Platform_args_are_predefined_globally()
    {
        BuildPlan plan = await Plan("FROM --platform=$BUILDPLATFORM img-$TARGETARCH\nARG TARGETOS\nENV OS=$TARGETOS\n", new BuildOptions { Platform = "linux/arm64/v8" });
        Assert.StartsWith("linux/", plan.GlobalArgs["BUILDPLATFORM"]);
        Assert.Equal(new StageBase.Image("img-arm64", plan.GlobalArgs["BUILDPLATFORM"]), plan.Target.Base);
        Assert.Equal("linux", plan.Target.Config!.GetEnv("OS"));
        Assert.Equal("v8", plan.GlobalArgs["TARGETVARIANT"]);
    }

    private const string MultiStage = """
        FROM scratch AS deps
        RUN fetch
        FROM scratch AS unused
        RUN slow-thing
        FROM deps AS build
        RUN compile
        FROM scratch AS runtime
        COPY --from=build /out /app
        CMD ["/app/run"]
        """;

    [Fact]
    public async Task Only_the_stages_the_target_needs_are_planned()
    {
        BuildPlan plan = await Plan(MultiStage);
        Assert.Equal(3, plan.TargetIndex);
        Assert.Equal([0, 2, 3], plan.ExecutionOrder);
        Assert.False(plan.Stages[1].Required);
        Assert.Empty(plan.Stages[1].Steps);
        Assert.Equal(new StageBase.Stage(0), plan.Stages[2].Base);
        Assert.Equal([2], plan.Stages[3].Dependencies);
        CopyStep copy = Assert.IsType<CopyStep>(Assert.Single(plan.Target.Steps));
        Assert.Equal(new CopySource.StageResult(2), copy.From);

        BuildPlan unused = await Plan(MultiStage, new BuildOptions { Target = "UNUSED" });
        Assert.Equal([1], unused.ExecutionOrder);

        BuildPlan build = await Plan(MultiStage, new BuildOptions { Target = "build" });
        Assert.Equal([0, 2], build.ExecutionOrder);
    }

    [Fact]
    public async Task Unknown_target_and_cycles_are_coded_errors()
    {
        var target = await Assert.ThrowsAsync<SupermachineException>(() => Plan(MultiStage, new BuildOptions { Target = "nope" }));
        Assert.Equal("SM2206", target.Code);
        Assert.Contains("deps, unused, build, runtime", target.Message);

        var cycle = await Assert.ThrowsAsync<SupermachineException>(() => Plan("FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n"));
        Assert.Equal("SM2210", cycle.Code);

        var variable = await Assert.ThrowsAsync<SupermachineException>(() => Plan("FROM scratch\nCOPY --from=$X /x /x\n"));
        Assert.Equal("SM2203", variable.Code);
        Assert.Contains("line 2", variable.Message);
    }

    [Fact]
    public async Task Copy_from_index_later_stage_or_image()
    {
        BuildPlan plan = await Plan("FROM scratch\nCOPY --from=1 /a /a\nCOPY --from=busybox:1 /bin/sh /sh\nFROM scratch AS later\n", new BuildOptions { Target = null });
        Assert.Equal(1, plan.TargetIndex);
        BuildPlan first = await Plan("FROM scratch AS first\nCOPY --from=later /a /a\nCOPY --from=busybox:1 /bin/sh /sh\nFROM scratch AS later\nRUN x\n", new BuildOptions { Target = "first" });
        Assert.Equal([1, 0], first.ExecutionOrder);
        Assert.Equal(new CopySource.Image("busybox:1"), ((CopyStep)first.Stages[0].Steps[1]).From);
        Assert.Equal(2, plan.Stages.Count);
    }

    [Fact]
    public async Task Every_config_instruction_shapes_the_image_config()
    {
        const string df = """
            FROM base
            ENV APP=/srv/app PORT=8080
            LABEL org.opencontainers.image.title="my app" version=$PORT
            WORKDIR $APP
            WORKDIR sub/../bin
            USER app:app
            EXPOSE $PORT 53/udp 9000-9002
            VOLUME ["/data"] 
            STOPSIGNAL SIGQUIT
            SHELL ["/bin/bash", "-eu", "-c"]
            HEALTHCHECK --interval=10s CMD curl -f localhost:$PORT
            ENTRYPOINT ["/entry"]
            ONBUILD RUN echo child
            MAINTAINER someone
            """;
        var images = new FixedImages(new() { ["base"] = new ImageConfig { Env = ["PATH=/usr/bin", "APP=old"], Cmd = ["base-cmd"] } });
        BuildPlan plan = await Plan(df, images: images);
        ImageConfig c = plan.Target.Config!;
        Assert.Equal(["PATH=/usr/bin", "APP=/srv/app", "PORT=8080"], c.Env);
        Assert.Equal("my app", c.Labels["org.opencontainers.image.title"]);
        Assert.Equal("8080", c.Labels["version"]);
        Assert.Equal("/srv/app/bin", c.WorkingDir);
        Assert.Equal("app:app", c.User);
        Assert.Equal(["53/udp", "8080/tcp", "9000/tcp", "9001/tcp", "9002/tcp"], c.ExposedPorts);
        Assert.Equal(["/data"], c.Volumes);
        Assert.Equal("SIGQUIT", c.StopSignal);
        Assert.Equal(["/bin/bash", "-eu", "-c"], c.Shell);
        Assert.Equal(["CMD-SHELL", "curl -f localhost:$PORT"], c.Healthcheck!.Test);
        Assert.Equal(TimeSpan.FromSeconds(10), c.Healthcheck.Interval);
        Assert.Equal(["/entry"], c.Entrypoint);
        Assert.Null(c.Cmd); // ENTRYPOINT resets the CMD inherited from the base
        Assert.Equal(["RUN echo child"], c.OnBuild);
        Assert.Equal("someone", c.Author);
        Assert.Equal([("base", (string?)null)], images.Requests);
        Assert.Equal(["/srv/app", "/srv/app/bin"], plan.Target.Steps.OfType<WorkdirStep>().Select(w => w.Path));
    }

    [Fact]
    public async Task Cmd_set_in_the_stage_survives_a_later_entrypoint_and_uses_the_shell()
    {
        BuildPlan plan = await Plan("FROM scratch\nSHELL [\"/bin/ash\", \"-c\"]\nCMD echo hi\nENTRYPOINT [\"/tini\", \"--\"]\n");
        Assert.Equal(["/bin/ash", "-c", "echo hi"], plan.Target.Config!.Cmd);
        Assert.Equal(["/tini", "--"], plan.Target.Config.Entrypoint);
    }

    [Fact]
    public async Task Base_onbuild_triggers_run_first_and_are_not_inherited()
    {
        var images = new FixedImages(new() { ["parent"] = new ImageConfig { OnBuild = ["COPY . /app", "RUN make"] } });
        BuildPlan plan = await Plan("FROM parent\nRUN test\n", images: images);
        Assert.Equal(3, plan.Target.Steps.Count);
        Assert.IsType<CopyStep>(plan.Target.Steps[0]);
        Assert.Equal("make", ((RunStep)plan.Target.Steps[1]).Argv[^1]);
        Assert.Empty(plan.Target.Config!.OnBuild);
    }

    [Fact]
    public async Task Copy_destination_resolves_against_workdir_and_expands()
    {
        BuildPlan plan = await Plan("FROM scratch\nWORKDIR /app\nARG SRC=src\nCOPY --chown=1000:1000 --chmod=644 ${SRC}/*.cs ./\nCOPY a.txt conf/b.txt\nCOPY <<EOF <<'RAW' /etc/\n$SRC\nEOF\n$SRC\nRAW\n");
        var copies = plan.Target.Steps.OfType<CopyStep>().ToList();
        Assert.Equal(["src/*.cs"], copies[0].Sources);
        Assert.Equal("/app/", copies[0].Destination);
        Assert.Equal(("1000:1000", "644"), (copies[0].Chown, copies[0].Chmod));
        Assert.Equal("/app/conf/b.txt", copies[1].Destination);
        Assert.Equal([new InlineSource("EOF", "src\n"), new InlineSource("RAW", "$SRC\n")], copies[2].InlineSources);
    }

    [Fact]
    public async Task Run_heredoc_with_shebang_becomes_a_script_file()
    {
        BuildPlan plan = await Plan("FROM scratch\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN <<EOF\necho a\nEOF\nRUN --mount=type=cache,target=cache cat <<A <<B\n1\nA\n2\nB\n");
        var runs = plan.Target.Steps.Cast<RunStep>().ToList();
        Assert.Equal(["/dev/pipes/EOF"], runs[0].Argv);
        Assert.Equal("#!/usr/bin/env python3\nprint(1)\n", Assert.Single(runs[0].ScriptFiles).Content);
        Assert.Equal(["/bin/sh", "-c", "echo a\n"], runs[1].Argv);
        Assert.Equal(["/bin/sh", "-c", "cat <<A <<B\n1\nA\n2\nB"], runs[2].Argv);
        Assert.Equal("/cache", Assert.Single(runs[2].Mounts).Target);
    }

    [Theory]
    [InlineData("FROM scratch\nEXPOSE 80/http\n", "invalid protocol")]
    [InlineData("FROM scratch\nEXPOSE 99999\n", "invalid port")]
    [InlineData("FROM scratch\nSTOPSIGNAL SIGNOPE\n", "invalid signal")]
    [InlineData("FROM scratch\nCOPY --chmod=999 a b\n", "invalid --chmod")]
    [InlineData("ARG E=\nFROM $E\n", "should not be blank")]
    public async Task Bad_values_after_expansion_are_sm2203(string df, string message)
    {
        var e = await Assert.ThrowsAsync<SupermachineException>(() => Plan(df));
        Assert.Equal("SM2203", e.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public async Task Expansion_errors_are_sm2205_naming_the_line()
    {
        var e = await Assert.ThrowsAsync<SupermachineException>(() => Plan("FROM scratch\n\nENV A=${B:?B_must_be_set}\n"));
        Assert.Equal("SM2205", e.Code);
        Assert.Contains("line 3", e.Message);
        Assert.Contains("B_must_be_set", e.Message);
    }

    [Fact]
    public void Build_args_parse_from_items_and_the_environment()
    {
        var parsed = BuildOptions.ParseBuildArgs(["A=1", "B==2", "C", "D", ""], name => name == "C" ? "from-env" : null);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "1", ["B"] = "=2", ["C"] = "from-env" }, parsed);
        Assert.Equal("SM2209", Assert.Throws<SupermachineException>(() => BuildOptions.ParseBuildArgs(["=x"])).Code);
    }

    [Fact]
    public async Task Arg_names_are_literal_and_a_bare_redeclaration_keeps_the_value()
    {
        BuildPlan plan = await Plan("ARG A=1\nARG A\nARG N=x\nFROM img$A\nARG $N=2\nENV V=${A}\n");
        Assert.Equal(new StageBase.Image("img1", null), plan.Target.Base);
        Assert.Equal("2", plan.Target.Args["$N"]);
        Assert.Equal("", plan.Target.Config!.GetEnv("V"));
    }
}
