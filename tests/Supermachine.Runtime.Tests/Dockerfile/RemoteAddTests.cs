using System.Security.Cryptography;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Building;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Dockerfile;

/// <summary>
/// ADD of a URL against a real HTTP server on 127.0.0.1: fetched, placed as Docker places it
/// (named by the URL, mode 0600, not extracted), checked with --checksum; an unreachable URL and a
/// wrong checksum fail the build with their codes. No RUN, so no build VM.
/// </summary>
public class RemoteAddTests : IAsyncLifetime
{
    private static readonly byte[] Payload = Encoding.UTF8.GetBytes("served over http\n");
    private readonly string _root = Directory.CreateTempSubdirectory("sm-addurl-").FullName;
    private LoopbackHttpServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new LoopbackHttpServer(async context =>
        {
            if (context.Request.Url!.AbsolutePath != "/files/tool.txt")
            {
                context.Response.StatusCode = 404;
                context.Response.Close();
                return;
            }
            context.Response.ContentLength64 = Payload.Length;
            await context.Response.OutputStream.WriteAsync(Payload);
            context.Response.Close();
        });
        return Task.CompletedTask;
    }

    private Task<DockerfileBuildResult> BuildAsync(string dockerfile)
    {
        File.WriteAllText(Path.Combine(_root, "Dockerfile"), dockerfile);
        return DockerfileBuilder.BuildAsync(new DockerfileBuildRequest { ContextDirectory = _root }, new DockerfileBuildOptions { CacheDirectory = Path.Combine(_root, "cache") });
    }

    [Fact]
    public async Task A_URL_is_fetched_named_by_its_path_with_mode_0600_and_checked_against_its_checksum()
    {
        string sha = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Payload));
        DockerfileBuildResult result = await BuildAsync($"""
            FROM scratch
            ADD http://{_server.Host}/files/tool.txt /srv/
            ADD --checksum={sha} http://{_server.Host}/files/tool.txt /srv/renamed.txt
            """);
        var files = await DockerfileBuilderTests.ReadImageAsync(result.Image);
        Assert.Equal(Payload, files["srv/tool.txt"].Item2);
        Assert.Equal(0x180, files["srv/tool.txt"].Item1.Mode);
        Assert.Equal(Payload, files["srv/renamed.txt"].Item2);
        Assert.Equal(0, result.VmBoots);
        Assert.Empty(Directory.GetFiles(Path.Combine(_root, "cache", "dockerfile", "tmp")));
    }

    [Fact]
    public async Task A_wrong_checksum_is_SM2220_and_an_unreachable_URL_is_SM2217()
    {
        var wrong = await Assert.ThrowsAsync<SupermachineException>(() => BuildAsync(
            $"FROM scratch\nADD --checksum=sha256:{new string('0', 64)} http://{_server.Host}/files/tool.txt /srv/\n"));
        Assert.Equal("SM2220", wrong.Code);
        Assert.Contains("line 2", wrong.Message);

        var missing = await Assert.ThrowsAsync<SupermachineException>(() => BuildAsync($"FROM scratch\nADD http://{_server.Host}/files/absent.txt /srv/\n"));
        Assert.Equal("SM2217", missing.Code);
        Assert.Contains("404", missing.Message);

        int closed = RegistryServerPort();
        var unreachable = await Assert.ThrowsAsync<SupermachineException>(() => BuildAsync($"FROM scratch\nADD http://127.0.0.1:{closed}/x.txt /srv/\n"));
        Assert.Equal("SM2217", unreachable.Code);
        Assert.Contains($"127.0.0.1:{closed}", unreachable.Message);
    }

    // A port nothing listens on: taken free, then left closed.
    private static int RegistryServerPort() => Oci.RegistryServer.FreePort();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }
}
