using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>The nginx fixture image (Debian's nginx-light) baked with HTTP readiness on GET /.</summary>
public sealed class NginxImageTests
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Http_readiness_snapshots_a_server_that_serves_its_default_page()
    {
        MicroVmImage image = await DebianBakes.Nginx.BakeAsync();
        Assert.Equal("80/", image.Manifest.Workload.WaitForHttp);
        await using MicroVm vm = await MicroVm.StartAsync(image, DebianBakes.StartOptions);
        Assert.True(vm.Restored);
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(1) };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("fidelity-test/1.0");
        using HttpResponseMessage response = await http.GetAsync($"http://{vm.GetConnectionString(80)}/");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Welcome to nginx!", await response.Content.ReadAsStringAsync());
        // The access log is the workload's stdout, as in the official image.
        await WorkloadLogWait.UntilContainsAsync(vm, "\"fidelity-test/1.0\"");
    }
}
