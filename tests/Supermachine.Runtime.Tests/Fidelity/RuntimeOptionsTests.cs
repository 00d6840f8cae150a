using Supermachine.Tests.Bake;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Oci.Manifests;

namespace Supermachine.Tests.Fidelity;

/// <summary>The new bake inputs: how they are validated, resolved against the image, and fingerprinted (no VM).</summary>
public class RuntimeOptionsTests
{
    private static MicroVmImageRequest Request(params (string Key, string Value)[] metadata) =>
        MicroVmImageRequest.FromMetadata("docker.io/library/redis:7", k => metadata.FirstOrDefault(m => m.Key == k).Value);

    [Theory]
    [InlineData("Hostname", "bad_name")]
    [InlineData("Hostname", "-leading")]
    [InlineData("Hostname", "a..b")]
    [InlineData("User", "a b")]
    [InlineData("User", "1:2:3")]
    [InlineData("WorkingDir", "relative/dir")]
    [InlineData("ShmMiB", "0")]
    [InlineData("StopTimeout", "-1")]
    public void A_bad_value_is_SM2303_naming_the_metadata(string key, string value)
    {
        var e = Assert.Throws<SupermachineException>(() => Request((key, value)));
        Assert.Equal(Errors.Codes.InvalidImageMetadata, e.Code);
        Assert.Contains(key, e.Message);
        Assert.Contains(value, e.Message);
    }

    [Theory]
    [InlineData("redis", "redis")]
    [InlineData("My_App.v2", "my-app-v2")]
    [InlineData("__", "supermachine")]
    public void The_default_hostname_is_the_artifact_name_as_one_label(string name, string hostname)
    {
        Assert.Equal(hostname, MicroVmImageRequest.DefaultHostname(name));
        Assert.True(MicroVmImageRequest.IsValidHostname(hostname));
    }

    [Fact]
    public void An_entrypoint_replaces_the_images_and_drops_its_cmd_as_docker_run_does()
    {
        var config = new ImageConfig { Entrypoint = ["/docker-entrypoint.sh"], Cmd = ["redis-server"], User = "redis", WorkingDir = "/data" };
        WorkloadSpec plain = WorkloadResolver.Resolve(config, Request());
        Assert.Equal(["/docker-entrypoint.sh", "redis-server"], plain.Arguments);
        Assert.Equal(("redis", "/data", "redis-7", 64), (plain.User, plain.WorkingDirectory, plain.Hostname, plain.ShmMiB));
        Assert.Contains("HOSTNAME=redis-7", plain.Environment);

        WorkloadSpec overridden = WorkloadResolver.Resolve(config, Request(("Entrypoint", "sleep"), ("User", "0:0"), ("WorkingDir", "/"), ("Hostname", "cache.local"), ("ShmMiB", "128")));
        Assert.Equal(["sleep"], overridden.Arguments);
        Assert.Equal(("0:0", "/", "cache.local", 128), (overridden.User, overridden.WorkingDirectory, overridden.Hostname, overridden.ShmMiB));
        Assert.Equal(["hostname=cache.local", "shm_mib=128"], overridden.Settings());
        Assert.Equal(["sleep", "60"], WorkloadResolver.Resolve(config, Request(("Entrypoint", "sleep"), ("Command", "60"))).Arguments);
    }

    [Theory]
    [InlineData(null, 15)]
    [InlineData("SIGINT", 2)]
    [InlineData("quit", 3)]
    [InlineData("9", 9)]
    [InlineData("SIGRTMIN+3", 37)]
    [InlineData("RTMAX", 64)]
    public void STOPSIGNAL_becomes_the_signal_number(string? stopSignal, int number) =>
        Assert.Equal(number, WorkloadResolver.StopSignal(new ImageConfig { StopSignal = stopSignal }, Request()));

    [Theory]
    [InlineData("SIGBOGUS")]
    [InlineData("65")]
    [InlineData("SIGRTMIN+40")]
    public void An_unknown_STOPSIGNAL_is_SM2340(string stopSignal)
    {
        var e = Assert.Throws<SupermachineException>(() => WorkloadResolver.StopSignal(new ImageConfig { StopSignal = stopSignal }, Request()));
        Assert.Equal(Errors.Codes.InvalidStopSignal, e.Code);
        Assert.Contains(stopSignal, e.Message);
    }

    [Theory]
    [InlineData("Entrypoint", "sh")]
    [InlineData("User", "nobody")]
    [InlineData("WorkingDir", "/srv")]
    [InlineData("Hostname", "db")]
    [InlineData("ShmMiB", "128")]
    [InlineData("StopTimeout", "30")]
    public void Each_runtime_option_is_a_bake_input(string key, string value)
    {
        Assert.NotEqual(SampleBakeInputs.Fingerprint(Request()), SampleBakeInputs.Fingerprint(Request((key, value))));
    }
}
