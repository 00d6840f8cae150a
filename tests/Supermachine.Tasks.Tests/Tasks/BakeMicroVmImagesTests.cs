using Microsoft.Build.Utilities;
using Supermachine.Tasks.Cli;
using Supermachine.Tasks.Cli.Commands;

namespace Supermachine.Tasks.Tests.Tasks;

public class BakeMicroVmImagesTests
{
    [Fact]
    public void Every_item_metadata_reaches_the_host_as_the_bake_verb_parses_it()
    {
        var item = new TaskItem("redis:7");
        item.SetMetadata("Name", "cache");
        item.SetMetadata("ArtifactDirectory", "/out/microvms/cache/");
        item.SetMetadata("Port", "6379");
        item.SetMetadata("Env", @"A=1; B=two words; OPTS=-c a=1\;b=2");
        item.SetMetadata("MemoryMiB", "512");
        item.SetMetadata("Vcpus", "2");
        item.SetMetadata("Command", "redis-server --appendonly yes");
        item.SetMetadata("Platform", "linux/amd64");
        item.SetMetadata("Network", "none");
        item.SetMetadata("HostPorts", "8080; 9000");
        item.SetMetadata("Entrypoint", "/entry.sh --flag");
        item.SetMetadata("User", "redis:redis");
        item.SetMetadata("WorkingDir", "/data");
        item.SetMetadata("Hostname", "cache.local");
        item.SetMetadata("ShmMiB", "128");
        item.SetMetadata("StopTimeout", "30");
        item.SetMetadata("Volumes", "pgdata:/var/lib/postgresql/data; cache:/var/cache");
        item.SetMetadata("Mounts", "/srv/seed:/seed:ro");

        IReadOnlyList<string> args = BakeMicroVmImages.BakeArgumentsFor(item);
        ParsedCommand parsed = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(args, CommandTable.All)).Command;
        Bake.MicroVmImageRequest request = ImageRequests.FromCommandLine(parsed, parsed.Arguments[0]);

        Assert.Equal("bake", parsed.Spec.Name);
        Assert.Equal("/out/microvms/cache/", parsed.Arguments[1]);
        Assert.Equal("cache", request.Name);
        Assert.Equal(6379, request.Port);
        Assert.Equal([new("A", "1"), new("B", "two words"), new("OPTS", "-c a=1;b=2")], request.Environment);
        Assert.Equal(512, request.MemoryMiB);
        Assert.Equal(2, request.Vcpus);
        Assert.Equal("redis-server --appendonly yes", request.Command);
        Assert.Equal("linux/amd64", request.Platform);
        Assert.Equal("none", request.Network);
        Assert.Equal([8080, 9000], request.HostPorts);
        Assert.Equal(("/entry.sh --flag", "redis:redis", "/data"), (request.Entrypoint, request.User, request.WorkingDir));
        Assert.Equal(("cache.local", 128, 30), (request.Hostname, request.ShmMiB, request.StopTimeout));
        Assert.Equal(["pgdata:/var/lib/postgresql/data", "cache:/var/cache"], request.Volumes.Select(v => v.ToString()));
        Assert.Equal(["/srv/seed:/seed:ro"], request.Mounts.Select(v => v.ToString()));
    }

    [Fact]
    public void Network_and_Aliases_metadata_become_bake_arguments_and_a_private_network_keeps_RUN_on_the_NAT()
    {
        var item = new TaskItem("redis:7");
        item.SetMetadata("Name", "db");
        item.SetMetadata("Network", "backend");
        item.SetMetadata("Aliases", "db;cache");
        item.SetMetadata("ArtifactDirectory", "/out/microvms/db/");
        IReadOnlyList<string> args = BakeMicroVmImages.BakeArgumentsFor(item);
        ParsedCommand parsed = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(args, CommandTable.All)).Command;
        Bake.MicroVmImageRequest request = ImageRequests.FromCommandLine(parsed, parsed.Arguments[0]);
        Assert.Equal("backend", request.Network);
        Assert.Equal(["db", "cache"], request.Aliases);

        ParsedCommand build = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(["build", ".", "out", "--network", "backend", "--alias", "api"], CommandTable.All)).Command;
        Bake.MicroVmImageRequest built = ImageRequests.FromCommandLine(build, "context", ".");
        Assert.Equal(("backend", null), (built.Network, built.BuildNetwork));
        ParsedCommand none = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(["build", ".", "out", "--network", "none"], CommandTable.All)).Command;
        Assert.Equal("none", ImageRequests.FromCommandLine(none, "context", ".").BuildNetwork);
    }

    [Fact]
    public void Profile_and_ConnectionString_reach_the_host_and_the_profile_fills_only_what_the_item_left_out()
    {
        var item = new TaskItem("127.0.0.1:5000/library/postgres:15");
        item.SetMetadata("ArtifactDirectory", "/out/microvms/postgres_15/");
        item.SetMetadata("Env", "POSTGRES_PASSWORD=mine");
        item.SetMetadata("ConnectionString", "postgresql://postgres:{env:POSTGRES_PASSWORD}@{host}:{port}/postgres");
        ParsedCommand parsed = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(BakeMicroVmImages.BakeArgumentsFor(item), CommandTable.All)).Command;
        Bake.MicroVmImageRequest request = ImageRequests.FromCommandLine(parsed, parsed.Arguments[0]);
        Assert.Equal(("postgres", 5432), (request.Profile, request.Port));
        Assert.Equal([new("POSTGRES_PASSWORD", "mine")], request.Environment);
        Assert.Equal("postgresql://postgres:{env:POSTGRES_PASSWORD}@{host}:{port}/postgres", request.ConnectionFormat);

        item.SetMetadata("Profile", "none");
        ParsedCommand off = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(BakeMicroVmImages.BakeArgumentsFor(item), CommandTable.All)).Command;
        Bake.MicroVmImageRequest plain = ImageRequests.FromCommandLine(off, off.Arguments[0]);
        Assert.Equal((null, null), (plain.Profile, plain.Port));
    }

    [Fact]
    public void Run_takes_the_workload_options_for_an_IMAGE_and_exec_keeps_user_and_workdir_for_its_command()
    {
        ParsedCommand run = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(
            ["run", "redis:7", "--entrypoint", "sh", "--user", "1000", "--workdir", "/srv", "--hostname", "h1", "--shm", "16", "--stop-timeout", "3"], CommandTable.All)).Command;
        Bake.MicroVmImageRequest fromRun = ImageRequests.FromCommandLine(run, run.Arguments[0]);
        Assert.Equal(("sh", "1000", "/srv", "h1", 16, 3), (fromRun.Entrypoint, fromRun.User, fromRun.WorkingDir, fromRun.Hostname, fromRun.ShmMiB, fromRun.StopTimeout));

        ParsedCommand exec = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(
            ["exec", "redis:7", "--user", "1000", "--workdir", "/srv", "--hostname", "h2", "--", "id"], CommandTable.All)).Command;
        Bake.MicroVmImageRequest fromExec = ImageRequests.FromCommandLine(exec, exec.Arguments[0]);
        Assert.Equal(("h2", null, null, null), (fromExec.Hostname, fromExec.User, fromExec.WorkingDir, fromExec.Command));
    }

    [Theory]
    [InlineData("exec", "--", "uname")]
    [InlineData("run")]
    public void Exec_and_run_of_an_IMAGE_take_the_platform_that_picks_its_manifest_and_guest(string verb, params string[] rest)
    {
        ParsedCommand command = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(
            [verb, "oci-layout:/fixtures:multi", "--platform", "linux/arm64", .. rest], CommandTable.All)).Command;
        Assert.Equal("linux/arm64", ImageRequests.FromCommandLine(command, command.Arguments[0]).Platform);
    }
}
