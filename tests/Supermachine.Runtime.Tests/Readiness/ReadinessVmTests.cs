using System.Diagnostics;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Images;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;
using Xunit.Abstractions;

namespace Supermachine.Tests.Readiness;

/// <summary>
/// Readiness strategies, warmup, files in and kernel arguments in real VMs, on the busybox fixture
/// image (busybox-static: sh, httpd, nc). Each bake boots a guest, waits as asked and snapshots;
/// the tests then restore (and cold-boot) it and look at what the snapshot holds.
/// </summary>
public sealed class ReadinessVmTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-ready-vm-").FullName;

    private static string Busybox => $"oci-layout:{OciTestFixtures.Layout}:busybox";

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private async Task<MicroVmImage> BakeAsync(string name, IReadOnlyDictionary<string, string> metadata, string reference = "")
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(reference.Length > 0 ? reference : Busybox,
            k => k == "Name" ? name : metadata.GetValueOrDefault(k)).WithFullPaths(_root);
        StoredImage image = await ImageBaker.BakeAsync(request, Path.Combine(_root, name), new BakeOptions
        {
            CacheDirectory = Path.Combine(_root, "cache"),
            UseCache = false,
            Progress = output.WriteLine,
        });
        return new MicroVmImage(image);
    }

    private static async Task<string> ShAsync(MicroVm vm, string command)
    {
        ExecResult result = await vm.ExecAsync(["sh", "-c", command]);
        Assert.True(result.ExitCode == 0, $"'{command}' failed: {result.StandardOutput}{result.StandardError}");
        return result.StandardOutput.Trim();
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_snapshot_is_taken_after_the_Nth_matching_log_line_not_the_first()
    {
        // Like PostgreSQL's entrypoint: "ready" once for a temporary server, then again for the real one.
        MicroVmImage image = await BakeAsync("log-twice", new Dictionary<string, string>
        {
            ["Command"] = "sh -c 'echo ready; sleep 3; echo second > /tmp/phase; echo database system is ready; sleep 1000000'",
            ["WaitForLog"] = "ready$",
            ["WaitForLogTimes"] = "2",
        });
        Assert.Equal(("ready$", 2), (image.Manifest.Workload.WaitForLog, image.Manifest.Workload.WaitForLogTimes));
        await using MicroVm vm = await MicroVm.StartAsync(image);
        Assert.True(vm.Restored);
        Assert.Equal("second", await ShAsync(vm, "cat /tmp/phase"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Http_readiness_serves_a_file_put_in_before_the_workload_started_with_its_mode_and_owner()
    {
        string page = Path.Combine(_root, "index.html");
        await File.WriteAllTextAsync(page, "hello from the host\n");
        MicroVmImage image = await BakeAsync("httpd", new Dictionary<string, string>
        {
            // httpd starts after a pause: an HTTP wait that did not wait would snapshot before it serves.
            ["Command"] = "sh -c 'sleep 2; exec busybox httpd -f -p 8080 -h /www'",
            ["WaitForHttp"] = "8080/index.html",
            ["Files"] = "index.html:/www/index.html:0640:nobody",
        });
        var staged = Assert.Single(image.Manifest.Workload.StagedFiles);
        Assert.Equal("/www/index.html", staged.GuestPath);
        await using MicroVm vm = await MicroVm.StartAsync(image);
        Assert.Equal("640 65534 65534", await ShAsync(vm, "stat -c '%a %u %g' /www/index.html"));
        Assert.Contains("hello from the host", await ShAsync(vm, "busybox wget -q -O - http://127.0.0.1:8080/index.html"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Command_readiness_warmup_and_kernel_args_hold_after_every_restore_and_on_a_cold_boot()
    {
        MicroVmImage image = await BakeAsync("warm", new Dictionary<string, string>
        {
            ["Command"] = "sh -c 'sleep 2; touch /tmp/up; sleep 1000000'",
            ["WaitForCommand"] = "test -f /tmp/up",
            ["Warmup"] = "test -f /tmp/up && echo warmed-after-ready >> /tmp/warm",
            ["WarmupTag"] = "seed-1",
            ["KernelArgs"] = "sm.readiness=42",
        });
        Assert.Equal("sm.readiness=42", image.Manifest.Machine.KernelArguments);
        for (int i = 0; i < 2; i++)
        {
            await using MicroVm vm = await MicroVm.StartAsync(image);
            Assert.True(vm.Restored);
            Assert.Equal("warmed-after-ready", await ShAsync(vm, "cat /tmp/warm"));
            Assert.Contains("sm.readiness=42", await ShAsync(vm, "cat /proc/cmdline"));
        }
        // A cold boot repeats the recorded start: readiness, then the warmup, once. MicroVmOptions.Files
        // go in before its workload starts (and right after a restore).
        string config = Path.Combine(_root, "app.conf");
        await File.WriteAllTextAsync(config, "mode=test\n");
        var files = new MicroVmOptions { ColdBoot = true, Files = [new MicroVmFile(config, "/etc/app/app.conf") { Mode = 0x180 }] };
        await using (MicroVm cold = await MicroVm.StartAsync(image, files))
        {
            Assert.False(cold.Restored);
            Assert.Equal("warmed-after-ready", await ShAsync(cold, "cat /tmp/warm"));
            Assert.Contains("sm.readiness=42", await ShAsync(cold, "cat /proc/cmdline"));
            Assert.Equal("600 mode=test", await ShAsync(cold, "echo $(stat -c %a /etc/app/app.conf) $(cat /etc/app/app.conf)"));
        }
        await using (MicroVm restored = await MicroVm.StartAsync(image, new MicroVmOptions { Files = files.Files }))
        {
            Assert.True(restored.Restored);
            Assert.Equal("mode=test", await ShAsync(restored, "cat /etc/app/app.conf"));
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_failing_warmup_fails_the_bake_with_its_output()
    {
        var e = await Assert.ThrowsAsync<SupermachineException>(() => BakeAsync("bad-warmup", new Dictionary<string, string>
        {
            ["Command"] = "sleep 1000000",
            ["Warmup"] = "echo seeding failed: no table >&2; exit 3",
        }));
        Assert.Equal(Errors.Codes.WarmupFailed, e.Code);
        Assert.Contains("exit code 3", e.Message);
        Assert.Contains("seeding failed: no table", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_root, "bad-warmup")));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_wrong_port_fails_early_naming_the_ports_that_listen()
    {
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<SupermachineException>(() => BakeAsync("wrong-port", new Dictionary<string, string>
        {
            ["Command"] = "busybox httpd -f -p 8080 -h /",
            ["Port"] = "8081",
        }));
        output.WriteLine($"failed after {clock.Elapsed.TotalSeconds:F0} s: {e.Message}");
        Assert.Equal(Errors.Codes.WorkloadNotReady, e.Code);
        Assert.Contains("port 8081", e.Message);
        Assert.Contains("listens on 8080", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"took {clock.Elapsed}, not early");
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_log_wait_that_never_matches_names_the_condition_and_shows_the_log_tail()
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(Busybox, k => k switch
        {
            "Name" => "never",
            "Command" => "sh -c 'echo starting up; echo still starting; sleep 1000000'",
            "WaitForLog" => "accepting connections",
            _ => null,
        });
        var e = await Assert.ThrowsAsync<SupermachineException>(() => ImageBaker.BakeAsync(request, Path.Combine(_root, "never"), new BakeOptions
        {
            CacheDirectory = Path.Combine(_root, "cache"),
            UseCache = false,
            ReadyTimeout = TimeSpan.FromSeconds(8),
        }));
        Assert.Equal(Errors.Codes.WorkloadNotReady, e.Code);
        Assert.Contains("a log line matching 'accepting connections' did not hold", e.Message);
        Assert.Contains("seen 0 of 1", e.Message);
        Assert.Contains("still starting", e.Message);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_images_HEALTHCHECK_is_the_readiness_when_nothing_else_is_given()
    {
        string context = Path.Combine(_root, "context");
        Directory.CreateDirectory(context);
        await File.WriteAllTextAsync(Path.Combine(context, "Dockerfile"), """
            ARG BASE
            FROM ${BASE}
            HEALTHCHECK --interval=1s --timeout=5s --retries=30 CMD test -f /tmp/healthy
            CMD ["sh", "-c", "sleep 3; echo yes > /tmp/healthy; sleep 1000000"]
            """);
        MicroVmImage image = await BakeAsync("health", new Dictionary<string, string>
        {
            ["Dockerfile"] = Path.Combine(context, "Dockerfile"),
            ["BuildArgs"] = "BASE=" + Busybox,
        }, reference: "health");
        // The shell form is stored as Docker stores it: CMD-SHELL and the command line.
        Assert.Equal(["CMD-SHELL", "test -f /tmp/healthy"], image.Manifest.Workload.Healthcheck?.Test);
        await using MicroVm vm = await MicroVm.StartAsync(image);
        Assert.Equal("yes", await ShAsync(vm, "cat /tmp/healthy"));
    }
}
