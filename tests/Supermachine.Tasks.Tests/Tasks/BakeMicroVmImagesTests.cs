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
        item.SetMetadata("Env", "A=1; B=two words");
        item.SetMetadata("MemoryMiB", "512");
        item.SetMetadata("Vcpus", "2");
        item.SetMetadata("Command", "redis-server --appendonly yes");
        item.SetMetadata("Platform", "linux/amd64");
        item.SetMetadata("Network", "none");
        item.SetMetadata("HostPorts", "8080; 9000");

        IReadOnlyList<string> args = BakeMicroVmImages.BakeArgumentsFor(item);
        ParsedCommand parsed = Assert.IsType<Invocation.Run>(CommandLineParser.Parse(args, CommandTable.All)).Command;
        Bake.MicroVmImageRequest request = ImageRequests.FromCommandLine(parsed, parsed.Arguments[0]);

        Assert.Equal("bake", parsed.Spec.Name);
        Assert.Equal("/out/microvms/cache/", parsed.Arguments[1]);
        Assert.Equal("cache", request.Name);
        Assert.Equal(6379, request.Port);
        Assert.Equal([new("A", "1"), new("B", "two words")], request.Environment);
        Assert.Equal(512, request.MemoryMiB);
        Assert.Equal(2, request.Vcpus);
        Assert.Equal("redis-server --appendonly yes", request.Command);
        Assert.Equal("linux/amd64", request.Platform);
        Assert.Equal("none", request.Network);
        Assert.Equal([8080, 9000], request.HostPorts);
    }
}
