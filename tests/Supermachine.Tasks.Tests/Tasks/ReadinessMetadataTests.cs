using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Supermachine.Tasks.Cli;
using Supermachine.Tasks.Cli.Commands;

namespace Supermachine.Tasks.Tests.Tasks;

/// <summary>Readiness, warmup, files and kernel-argument metadata from the project to the host, and the host's multi-line errors back.</summary>
public sealed class ReadinessMetadataTests : IDisposable
{
    private readonly string _project = Directory.CreateTempSubdirectory("sm-ready-task-").FullName;

    public void Dispose() => Directory.Delete(_project, recursive: true);

    [Fact]
    public void MicroVmFile_items_and_readiness_metadata_reach_the_host_as_the_bake_verb_parses_them()
    {
        File.WriteAllText(Path.Combine(_project, "init.sql"), "create table t (x int);");
        var image = new TaskItem("postgres:16");
        image.SetMetadata("Name", "pg");
        image.SetMetadata("WaitForLog", "ready to accept connections; really");
        image.SetMetadata("WaitForLogTimes", "2");
        image.SetMetadata("WaitForHttp", "8080/health");
        image.SetMetadata("WaitForCommand", "pg_isready -q");
        image.SetMetadata("Warmup", "psql -c 'insert into t values (1)'");
        image.SetMetadata("WarmupTag", "seed-2");
        image.SetMetadata("KernelArgs", "sm.x=1");
        var file = new TaskItem("init.sql");
        file.SetMetadata("Image", "pg");
        file.SetMetadata("GuestPath", "/docker-entrypoint-initdb.d/init.sql");
        file.SetMetadata("Mode", "0600");
        file.SetMetadata("Owner", "postgres");
        var resolve = new ResolveMicroVmImages
        {
            Images = [image],
            Files = [file],
            ArtifactsDirectory = Path.Combine(_project, "bin", "microvms"),
            ProjectFile = Path.Combine(_project, "app.csproj"),
            BuildEngine = new RecordingEngine(),
        };
        Assert.True(resolve.Execute());
        Assert.Contains(resolve.InputFiles, i => i.ItemSpec == Path.Combine(_project, "init.sql"));

        IReadOnlyList<string> args = BakeMicroVmImages.BakeArgumentsFor(Assert.Single(resolve.ResolvedImages));
        ParsedCommand parsed = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(args, CommandTable.All)).Command;
        Bake.MicroVmImageRequest request = ImageRequests.FromCommandLine(parsed, parsed.Arguments[0]);
        Assert.Equal("ready to accept connections; really", request.WaitForLog);
        Assert.Equal(2, request.WaitForLogTimes);
        Assert.Equal(("8080/health", "pg_isready -q"), (request.WaitForHttp, request.WaitForCommand));
        Assert.Equal(("psql -c 'insert into t values (1)'", "seed-2", "sm.x=1"), (request.Warmup, request.WarmupTag, request.KernelArgs));
        var staged = Assert.Single(request.Files);
        Assert.Equal((Path.Combine(_project, "init.sql"), "/docker-entrypoint-initdb.d/init.sql", 0x180, "postgres"), (staged.HostPath, staged.GuestPath, staged.Mode, staged.Owner));
    }

    [Fact]
    public void A_MicroVmFile_for_an_unknown_image_is_SM2354_naming_the_known_ones()
    {
        File.WriteAllText(Path.Combine(_project, "init.sql"), "");
        var file = new TaskItem("init.sql");
        file.SetMetadata("Image", "pgg");
        file.SetMetadata("GuestPath", "/init.sql");
        var engine = new RecordingEngine();
        var resolve = new ResolveMicroVmImages
        {
            Images = [new TaskItem("postgres:16", new Dictionary<string, string> { ["Name"] = "pg" })],
            Files = [file],
            ArtifactsDirectory = Path.Combine(_project, "bin"),
            ProjectFile = Path.Combine(_project, "app.csproj"),
            BuildEngine = engine,
        };
        Assert.False(resolve.Execute());
        var error = Assert.Single(engine.Errors);
        Assert.Equal("SM2354", error.Code);
        Assert.Contains("'pgg'", error.Message);
        Assert.Contains("pg", error.Message);
    }

    [Fact]
    public void A_multi_line_host_error_reaches_MSBuild_whole_with_the_log_tail()
    {
        var stderr = new StringWriter();
        HostOutput.Error(stderr, "SM3256: The workload of 'pg' did not become ready: it exited. The workload exited with code 1. Its log ends with:\ninitdb: error: bad\n\nlast line");
        var engine = new RecordingEngine();
        var task = new BakeMicroVmImages { BuildEngine = engine, ProjectFile = "app.csproj" };
        var relay = new HostErrorRelay(task);
        foreach (string line in stderr.ToString().Split(Environment.NewLine))
        {
            relay.Line(line);
        }
        relay.Flush();
        var error = Assert.Single(engine.Errors);
        Assert.Equal("SM3256", error.Code);
        Assert.EndsWith("Its log ends with:\ninitdb: error: bad\n\nlast line", error.Message);
    }

    private sealed class RecordingEngine : IBuildEngine
    {
        public List<BuildErrorEventArgs> Errors { get; } = [];

        public bool ContinueOnError => false;

        public int LineNumberOfTaskNode => 0;

        public int ColumnNumberOfTaskNode => 0;

        public string ProjectFileOfTaskNode => "";

        public bool BuildProjectFile(string projectFileName, string[] targetNames, System.Collections.IDictionary globalProperties, System.Collections.IDictionary targetOutputs) => false;

        public void LogCustomEvent(CustomBuildEventArgs e)
        {
        }

        public void LogErrorEvent(BuildErrorEventArgs e) => Errors.Add(e);

        public void LogMessageEvent(BuildMessageEventArgs e)
        {
        }

        public void LogWarningEvent(BuildWarningEventArgs e)
        {
        }
    }
}
