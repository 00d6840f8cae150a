using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Building;
using Supermachine.Tests.Dockerfile;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Network;

/// <summary>RUN has outbound network by default (as in Docker), none on request, and the step cache ignores the difference.</summary>
public class BuildNetworkTests
{
    [RequiresRootFact("qemu-system-x86_64", "passt", "ip", "busybox")]
    public async Task RUN_downloads_from_a_remote_host_unless_the_build_network_is_none_and_the_cache_key_ignores_it()
    {
        await using NamespaceHost remote = await NamespaceHost.StartAsync();
        remote.Serve("payload.txt", "from the namespace host\n"u8.ToArray());
        string root = Directory.CreateTempSubdirectory("sm-netbuild-").FullName;
        try
        {
            string context = Path.Combine(root, "context");
            Directory.CreateDirectory(context);
            File.WriteAllText(Path.Combine(context, "Dockerfile"), $$"""
                ARG BASE
                FROM ${BASE}
                RUN wget -q -O /payload.txt {{remote.Url("payload.txt")}}
                """);
            var request = new DockerfileBuildRequest
            {
                ContextDirectory = context,
                BuildArgs = new Dictionary<string, string> { ["BASE"] = DockerfileBuilderTests.BaseImage },
            };
            var withNetwork = new DockerfileBuildOptions { CacheDirectory = Path.Combine(root, "cache") };
            DockerfileBuildResult built = await DockerfileBuilder.BuildAsync(request, withNetwork);
            var files = await DockerfileBuilderTests.ReadImageAsync(built.Image);
            Assert.Equal("from the namespace host\n", System.Text.Encoding.UTF8.GetString(files["payload.txt"].Item2));

            // The same steps without network: the cache key does not change, so nothing runs.
            DockerfileBuildResult cached = await DockerfileBuilder.BuildAsync(request, new DockerfileBuildOptions { CacheDirectory = Path.Combine(root, "cache"), Network = false });
            Assert.Equal(0, cached.VmBoots);

            // A fresh cache without network: the RUN has no route out and fails.
            var e = await Assert.ThrowsAsync<SupermachineException>(() => DockerfileBuilder.BuildAsync(request, new DockerfileBuildOptions { CacheDirectory = Path.Combine(root, "cache-none"), Network = false }));
            Assert.Contains("wget", e.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
