using System.Security.Cryptography;
using System.Text;
using Supermachine.Tasks.Cli;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Network;

namespace Supermachine.Tasks.Tests.Cli;

/// <summary>
/// RUN has the network: `supermachine build` of a Debian Dockerfile whose RUN does
/// `apt-get update && apt-get install -y hello` against a one-package apt repository served by a
/// "remote host" (a network namespace), then the built image runs the package's binary.
/// </summary>
public class AptBuildTests : IDisposable
{
    private const string Package = "hello";

    private readonly string _root = Directory.CreateTempSubdirectory("sm-apt-build-").FullName;

    /// <summary>
    /// A flat apt repository in <paramref name="directory"/>: the .deb fetched on the host with
    /// apt-get download, its Packages index from dpkg-scanpackages, and an unsigned Release that
    /// lists the index (the Dockerfile trusts the source).
    /// </summary>
    private static async Task MakeRepositoryAsync(string directory)
    {
        ProcessResult download = await ProcessRunner.RunAsync("apt-get", ["download", "-q", Package], workingDirectory: directory, timeout: TimeSpan.FromMinutes(5));
        Assert.True(download.ExitCode == 0, download.Output);
        ProcessResult scan = await ProcessRunner.RunAsync("dpkg-scanpackages", ["--multiversion", "."], workingDirectory: directory, timeout: TimeSpan.FromMinutes(2));
        Assert.True(scan.ExitCode == 0, scan.Output);
        byte[] packages = Encoding.UTF8.GetBytes(scan.StandardOutput);
        File.WriteAllBytes(Path.Combine(directory, "Packages"), packages);
        File.WriteAllText(Path.Combine(directory, "Release"), $"""
            Origin: supermachine-test
            Label: supermachine-test
            Suite: stable
            Codename: test
            Date: {DateTime.UtcNow:ddd, dd MMM yyyy HH:mm:ss} UTC
            Architectures: amd64 all
            SHA256:
             {Convert.ToHexStringLower(SHA256.HashData(packages))} {packages.Length} Packages

            """);
    }

    [RequiresRootFact("qemu-system-x86_64", "passt", "ip", "busybox", "apt-get", "dpkg-scanpackages")]
    public async Task Build_installs_a_package_from_an_apt_repository_on_a_remote_host_and_the_image_runs_it()
    {
        await using NamespaceHost remote = await NamespaceHost.StartAsync();
        await MakeRepositoryAsync(remote.Root);
        string context = Path.Combine(_root, "context");
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $$"""
            ARG BASE
            FROM ${BASE}
            RUN rm -f /etc/apt/sources.list.d/* \
             && echo 'deb [trusted=yes] http://{{remote.Address}}:{{NamespaceHost.Port}}/ ./' > /etc/apt/sources.list \
             && apt-get update && apt-get install -y --no-install-recommends {{Package}}
            CMD ["sleep", "infinity"]
            """);
        string output = Path.Combine(_root, "out");
        var stderr = new StringWriter();
        int exit = await Program.RunAsync(["build", context, output, "--build-arg", $"BASE={DebianBase}", "--memory", "512"], new StringWriter(), stderr, CancellationToken.None);
        Assert.True(exit == Program.Success, stderr.ToString());

        await using MicroVm vm = await MicroVm.StartAsync(MicroVmImage.Load(output));
        ExecResult hello = await vm.ExecAsync([Package]);
        Assert.True(hello.ExitCode == 0, hello.StandardError);
        Assert.Equal("Hello, world!", hello.StandardOutput.Trim());
    }

    private static string DebianBase => TestEnvironment.DebianFixture("debian");

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
