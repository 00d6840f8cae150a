using Supermachine.Tests.Bake;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Guest.Readiness;

namespace Supermachine.Tests.Readiness;

/// <summary>The readiness, warmup, files and kernel-argument metadata: parsed, checked (SM235x) and hashed into the fingerprint.</summary>
public sealed class ReadinessInputTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-ready-input-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static MicroVmImageRequest Request(params (string Key, string Value)[] metadata) =>
        MicroVmImageRequest.FromMetadata("busybox", k => metadata.FirstOrDefault(m => m.Key == k).Value);

    private static string Fingerprint(MicroVmImageRequest request) => SampleBakeInputs.Fingerprint(request);

    [Fact]
    public void Metadata_is_parsed_into_the_request()
    {
        string host = Path.Combine(_root, "init.sql");
        File.WriteAllText(host, "select 1;");
        MicroVmImageRequest request = Request(("WaitForLog", "ready to accept"), ("WaitForLogTimes", "2"), ("WaitForHttp", "8080/health"), ("WaitForCommand", "test -f /x"),
            ("Warmup", "echo hi"), ("WarmupTag", "v1"), ("KernelArgs", "quiet=1"), ("Files", "init.sql:/docker-entrypoint-initdb.d/init.sql:0600:postgres:postgres")).WithFullPaths(_root);
        Assert.Equal("ready to accept", request.WaitForLog);
        Assert.Equal(2, request.WaitForLogTimes);
        Assert.Equal(new HttpProbe(8080, "/health"), ReadinessText.ParseHttp(request.WaitForHttp!));
        Assert.Equal("test -f /x", request.WaitForCommand);
        Assert.Equal(("echo hi", "v1", "quiet=1"), (request.Warmup, request.WarmupTag, request.KernelArgs));
        var file = Assert.Single(request.Files);
        Assert.Equal((host, "/docker-entrypoint-initdb.d/init.sql", 0x180, "postgres:postgres"), (file.HostPath, file.GuestPath, file.Mode, file.Owner));
        Assert.Equal(file, StagedFileSpec.Parse("busybox", StagedFileSpec.Format(file)));
    }

    [Theory]
    [InlineData("Files", "init.sql:relative/path", Errors.Codes.InvalidFileSpec)]
    [InlineData("Files", "init.sql", Errors.Codes.InvalidFileSpec)]
    [InlineData("Files", "init.sql:/etc/x:0999", Errors.Codes.InvalidFileSpec)]
    [InlineData("WaitForHttp", "http://x/", Errors.Codes.InvalidWaitForHttp)]
    [InlineData("WaitForHttp", "70000/", Errors.Codes.InvalidWaitForHttp)]
    [InlineData("WaitForLog", "ready(", Errors.Codes.InvalidWaitForLog)]
    [InlineData("WaitForLogTimes", "2", Errors.Codes.InvalidImageMetadata)]
    public void Bad_metadata_is_a_coded_input_error(string key, string value, string code)
    {
        var e = Assert.Throws<SupermachineException>(() => Request((key, value)));
        Assert.Equal(code, e.Code);
        Assert.Contains("busybox", e.Message);
    }

    [Fact]
    public void A_missing_host_file_is_SM2351_naming_both_paths()
    {
        var e = Assert.Throws<SupermachineException>(() => Request(("Files", "nope.sql:/init/nope.sql")).WithFullPaths(_root));
        Assert.Equal(Errors.Codes.FileToStageNotFound, e.Code);
        Assert.Contains(Path.Combine(_root, "nope.sql"), e.Message);
        Assert.Contains("/init/nope.sql", e.Message);
    }

    [Fact]
    public void Readiness_warmup_files_and_kernel_args_are_bake_inputs()
    {
        string host = Path.Combine(_root, "seed.sql");
        File.WriteAllText(host, "insert 1;");
        MicroVmImageRequest withFile = Request(("Files", "seed.sql:/seed.sql")).WithFullPaths(_root);
        string baseline = Fingerprint(Request());
        string fileBefore = Fingerprint(withFile);
        File.WriteAllText(host, "insert 2;");
        string fileAfter = Fingerprint(withFile);
        string[] changed =
        [
            Fingerprint(Request(("WaitForLog", "ready"))),
            Fingerprint(Request(("WaitForLog", "ready"), ("WaitForLogTimes", "2"))),
            Fingerprint(Request(("WaitForHttp", "80/"))),
            Fingerprint(Request(("WaitForCommand", "true"))),
            Fingerprint(Request(("Warmup", "echo 1"))),
            Fingerprint(Request(("Warmup", "echo 1"), ("WarmupTag", "v2"))),
            Fingerprint(Request(("KernelArgs", "a=b"))),
            fileBefore,
            fileAfter,
            Fingerprint(Request(("Files", "seed.sql:/other.sql")).WithFullPaths(_root)),
        ];
        Assert.All(changed, f => Assert.NotEqual(baseline, f));
        Assert.Equal(changed.Length, changed.Distinct().Count());
    }

    [Fact]
    public void Listening_ports_are_read_from_proc_net_tcp()
    {
        const string table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1 1 0000000000000000 100 0 0 10 0
               1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
               2: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
            """;
        Assert.Equal([6379, 8080], ListeningPorts.Parse(table).Order());
    }

    [Fact]
    public void Guest_CPU_time_is_read_from_proc_stat_as_busy_and_total_jiffies()
    {
        const string stat = "cpu  100 5 20 1000 50 3 2 1 0 0\ncpu0 100 5 20 1000 50 3 2 1 0 0\nintr 1\n";
        Assert.Equal((131L, 1181L), GuestCpu.Parse(stat));
        Assert.Null(GuestCpu.Parse("intr 1\n"));
    }
}
