using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Instructions;

namespace Supermachine.Tests.Dockerfile;

public class InstructionParserTests
{
    private static DockerfileInstructions Parse(string text) => InstructionParser.Parse(text, "Dockerfile");

    private static T Single<T>(string body)
        where T : Instruction => Assert.IsType<T>(Assert.Single(Parse("FROM base\n" + body).Stages[0].Instructions));

    private static SupermachineException Error(string text) => Assert.Throws<SupermachineException>(() => Parse(text));

    [Fact]
    public void From_takes_platform_and_a_lower_cased_stage_name()
    {
        DockerfileInstructions df = Parse("ARG TAG=1\nFROM --platform=$BUILDPLATFORM golang:${TAG} AS Build\nFROM scratch\n");
        Assert.Single(df.GlobalArgs);
        Assert.Equal(2, df.Stages.Count);
        FromInstruction from = df.Stages[0].From;
        Assert.Equal(("golang:${TAG}", "build", "$BUILDPLATFORM"), (from.BaseName, from.StageName, from.Platform));
        Assert.Null(df.Stages[1].Name);
        Assert.Equal("1", df.Stages[1].DisplayName);
    }

    [Theory]
    [InlineData("FROM a AS 1x\n", "invalid name for build stage")]
    [InlineData("FROM a b\n", "FROM requires either one or three arguments")]
    [InlineData("FROM --plat=x a\n", "unknown flag: --plat")]
    public void Bad_from_is_sm2203_on_its_line(string text, string message)
    {
        SupermachineException e = Error("# comment\n" + text);
        Assert.Equal("SM2203", e.Code);
        Assert.Contains("line 2:", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Run_accepts_cache_mounts_network_and_heredocs()
    {
        RunInstruction run = Single<RunInstruction>("RUN --mount=type=cache,target=/root/.cache,sharing=locked --network=none <<EOF\napt-get update\nEOF\n");
        RunMount mount = Assert.Single(run.Mounts);
        Assert.Equal(("cache", "/root/.cache", "locked", "/root/.cache"), (mount.Type, mount.Target, mount.Sharing, mount.Id));
        Assert.Equal("none", run.Network);
        Assert.Equal(["<<EOF"], run.Command.Arguments);
        Assert.True(run.Command.PrependShell);
        Assert.Equal("apt-get update\n", Assert.Single(run.Files).Data);
    }

    [Theory]
    [InlineData("RUN --mount=type=volume,target=/x true", "unsupported mount type")]
    [InlineData("RUN --mount=type=cache true", "needs a target")]
    [InlineData("RUN --network=bridge true", "unsupported network mode")]
    [InlineData("RUN --frobnicate true", "unknown flag: --frobnicate")]
    [InlineData("COPY --chown a b c --chmod=1", "missing a value on flag: --chown")]
    [InlineData("COPY --link=maybe a b", "expecting boolean value")]
    [InlineData("COPY --from=a --from=b x y", "duplicate flag specified: --from")]
    [InlineData("COPY onlyone", "requires at least two arguments")]
    [InlineData("COPY a <<EOF\nx\nEOF", "cannot accept a heredoc as a destination")]
    [InlineData("WORKDIR", "WORKDIR requires exactly one argument")]
    [InlineData("USER", "USER requires exactly one argument")]
    [InlineData("SHELL /bin/bash -c", "JSON form")]
    [InlineData("HEALTHCHECK --interval=5 CMD true", "invalid duration")]
    [InlineData("HEALTHCHECK --retries=-1 CMD true", "cannot be negative")]
    [InlineData("HEALTHCHECK NONE x", "takes no arguments")]
    [InlineData("HEALTHCHECK WGET x", "Unknown type")]
    [InlineData("ONBUILD ONBUILD RUN x", "Chaining ONBUILD")]
    [InlineData("ONBUILD FROM x", "isn't allowed as an ONBUILD trigger")]
    [InlineData("EXPOSE", "EXPOSE requires at least one argument")]
    [InlineData("ARG =x", "ARG names can not be blank")]
    [InlineData("STOPSIGNAL", "STOPSIGNAL requires exactly one argument")]
    public void Bad_flags_and_arguments_are_sm2203_naming_the_line(string body, string message)
    {
        SupermachineException e = Error("FROM base\n" + body + "\n");
        Assert.Equal("SM2203", e.Code);
        Assert.Contains("'Dockerfile' line 2:", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Unknown_instruction_and_instruction_before_from_have_their_codes()
    {
        SupermachineException unknown = Error("FROM a\nFOO bar\n");
        Assert.Equal("SM2204", unknown.Code);
        Assert.Contains("line 2", unknown.Message);
        Assert.Contains("'FOO'", unknown.Message);

        SupermachineException early = Error("ARG X\nRUN true\nFROM a\n");
        Assert.Equal("SM2208", early.Code);
        Assert.Contains("line 2", early.Message);
    }

    [Fact]
    public void Copy_and_add_options_and_heredoc_sources()
    {
        CopyInstruction copy = Single<CopyInstruction>("COPY --from=build --chown=app:app --chmod=0755 --link --exclude=*.md src/ <<-EOF /app/\n\thello $X\n\tEOF\n");
        Assert.Equal(("build", "app:app", "0755", true), (copy.From, copy.Chown, copy.Chmod, copy.Link));
        Assert.Equal(["src/"], copy.Sources);
        Assert.Equal(["*.md"], copy.Excludes);
        Assert.Equal("/app/", copy.Destination);
        InlineFile inline = Assert.Single(copy.InlineSources);
        Assert.Equal(("EOF", "hello $X\n", true), (inline.Name, inline.Data, inline.Expand));

        AddInstruction add = Single<AddInstruction>("ADD --checksum=sha256:abc --unpack=false [\"a b.tar\", \"/dst\"]\n");
        Assert.Equal(["a b.tar"], add.Sources);
        Assert.Equal(("sha256:abc", (bool?)false, (bool?)null), (add.Checksum, add.Unpack, add.KeepGitDir));
    }

    [Fact]
    public void Exec_and_shell_forms()
    {
        CmdInstruction cmd = Single<CmdInstruction>("CMD [\"redis-server\", \"--port\", \"6379\"]\n");
        Assert.False(cmd.Command.PrependShell);
        Assert.Equal(["redis-server", "--port", "6379"], cmd.Command.Arguments);
        EntrypointInstruction ep = Single<EntrypointInstruction>("ENTRYPOINT echo  hello   world\n");
        Assert.True(ep.Command.PrependShell);
        Assert.Equal(["echo  hello   world"], ep.Command.Arguments);
        Assert.Equal(["/bin/sh", "-c", "echo  hello   world"], ep.Command.ToArgv(["/bin/sh", "-c"]));
        Assert.Empty(Single<EntrypointInstruction>("ENTRYPOINT []\n").Command.Arguments);
    }

    [Fact]
    public void Env_label_arg_and_the_rest()
    {
        EnvInstruction env = Single<EnvInstruction>("ENV A=1 B=\"two words\" C\n".Replace(" C", ""));
        Assert.Equal([new KeyValue("A", "1"), new KeyValue("B", "\"two words\"")], env.Variables);
        Assert.Equal([new KeyValue("PATH", "/a b", true)], Single<EnvInstruction>("ENV PATH /a b\n").Variables);
        Assert.Equal([new KeyValue("a.b", "c")], Single<LabelInstruction>("LABEL a.b=c\n").Labels);
        Assert.Equal([new ArgDeclaration("A", null), new ArgDeclaration("B", "x=y")], Single<ArgInstruction>("ARG A B=x=y\n").Args);
        Assert.Equal(["443", "80/udp"], Single<ExposeInstruction>("EXPOSE 80/udp 443\n").Ports);
        Assert.Equal(["/data", "/logs"], Single<VolumeInstruction>("VOLUME [\"/data\", \"/logs\"]\n").Volumes);
        Assert.Equal("SIGINT", Single<StopSignalInstruction>("STOPSIGNAL SIGINT\n").Signal);
        Assert.Equal(["pwsh", "-c"], Single<ShellInstruction>("SHELL [\"pwsh\", \"-c\"]\n").Shell);
        Assert.Equal("me <me@x>", Single<MaintainerInstruction>("MAINTAINER me <me@x>\n").Maintainer);
        Assert.Equal("RUN echo hi", Single<OnbuildInstruction>("ONBUILD RUN echo hi\n").Expression);
        Assert.Equal("app", Single<UserInstruction>("USER app\n").User);
        Assert.Equal("/srv", Single<WorkdirInstruction>("WORKDIR /srv\n").Path);

        HealthcheckInstruction health = Single<HealthcheckInstruction>("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f http://localhost/\n");
        Assert.Equal(["CMD-SHELL", "curl -f http://localhost/"], health.Test);
        Assert.Equal((TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(500), 3), (health.Interval, health.Timeout, health.Retries));
        Assert.Equal(["CMD", "true"], Single<HealthcheckInstruction>("HEALTHCHECK CMD [\"true\"]\n").Test);
        Assert.Equal(["NONE"], Single<HealthcheckInstruction>("HEALTHCHECK NONE\n").Test);
    }

    [Fact]
    public void Instructions_keep_their_lines()
    {
        DockerfileInstructions df = Parse("FROM a\n\nRUN a \\\n  b\nUSER x\n");
        Assert.Equal((3, 4), (df.Stages[0].Instructions[0].Line, df.Stages[0].Instructions[0].EndLine));
        Assert.Equal(5, df.Stages[0].Instructions[1].Line);
    }

    private static SupermachineException InstructionError(string text) =>
        Assert.Throws<SupermachineException>(() => InstructionParser.ParseInstruction(Supermachine.Dockerfile.Parsing.DockerfileParser.Parse(text).Root.Children[0]));

    // From BuildKit's instructions/parse_test.go (Apache-2.0).
    [Theory]
    [InlineData("MAINTAINER", "MAINTAINER requires exactly one argument")]
    [InlineData("WORKDIR", "WORKDIR requires exactly one argument")]
    [InlineData("USER", "USER requires exactly one argument")]
    [InlineData("STOPSIGNAL", "STOPSIGNAL requires exactly one argument")]
    [InlineData("ENV", "ENV requires at least one argument")]
    [InlineData("LABEL", "LABEL requires at least one argument")]
    [InlineData("ONBUILD", "ONBUILD requires at least one argument")]
    [InlineData("HEALTHCHECK", "HEALTHCHECK requires at least one argument")]
    [InlineData("EXPOSE", "EXPOSE requires at least one argument")]
    [InlineData("VOLUME", "VOLUME requires at least one argument")]
    [InlineData("ADD arg1", "ADD requires at least two arguments, but only one was provided. Destination could not be determined")]
    [InlineData("COPY arg1", "COPY requires at least two arguments, but only one was provided. Destination could not be determined")]
    [InlineData("COPY\t\n\t\tquux \\\n      bar", "COPY requires at least two arguments")]
    [InlineData("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger")]
    [InlineData("MAINTAINER --boo joe@example.com", "unknown flag: --boo")]
    [InlineData("ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    [InlineData("HEALTHCHECK --interval=50ns CMD true", "cannot be less than 1ms")]
    public void Buildkit_error_cases(string text, string message)
    {
        Assert.Contains(message, InstructionError(text).Message);
    }

    [Theory]
    [InlineData("FOO bar")]
    [InlineData("foo bar")]
    public void Unknown_instructions_keep_their_spelling(string text)
    {
        SupermachineException e = InstructionError(text);
        Assert.Equal("SM2204", e.Code);
        Assert.Contains("'" + text.Split(' ')[0] + "'", e.Message);
    }

    [Fact]
    public void Flags_buildkit_ignores_are_ignored()
    {
        Assert.Equal("SIGTERM", Single<StopSignalInstruction>("STOPSIGNAL --x SIGTERM\n").Signal);
        Assert.Equal(["NONE"], Single<HealthcheckInstruction>("HEALTHCHECK --interval=1s NONE\n").Test);
        Assert.Equal("0ms is fine", Single<HealthcheckInstruction>("HEALTHCHECK --interval=0ms CMD true\n").Interval == TimeSpan.Zero ? "0ms is fine" : "");
    }
}
