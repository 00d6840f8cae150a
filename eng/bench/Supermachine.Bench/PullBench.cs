using System.Diagnostics;
using System.Net.Sockets;
using Supermachine.FileSystem;
using Supermachine.Oci;
using Supermachine.Oci.Layers;
using Supermachine.Oci.Registry;
using Supermachine.Oci.Storage;

namespace Supermachine.Bench;

/// <summary>
/// Pull of the redis fixture from a local registry into an empty cache, against
/// <c>skopeo copy docker://… oci:…</c> of the same image; then flatten throughput, against
/// <c>umoci unpack</c> of the same layout.
/// </summary>
public sealed class PullBench : IBenchmark
{
    private const int Runs = 5;

    public string Name => "pull";

    public string Description => "pull redis fixture from a local registry vs skopeo copy; flatten MB/s vs umoci unpack";

    public async Task RunAsync(BenchContext context, CancellationToken cancellationToken)
    {
        string repo = FindRepositoryRoot();
        string fixtures = Path.Combine(VmBenchSupport.SetupCache, "fixtures");
        Run("bash", [Path.Combine(repo, "tests", "fixtures", "images.sh"), fixtures]);
        string layout = Path.Combine(fixtures, "layout");

        string registryDir = Path.Combine(context.WorkDirectory, "registry");
        Directory.CreateDirectory(registryDir);
        int port = FreePort();
        string config = Path.Combine(registryDir, "config.yml");
        await File.WriteAllTextAsync(config, $"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {registryDir}/data\nhttp:\n  addr: 127.0.0.1:{port}\n", cancellationToken);
        using var registry = Process.Start(new ProcessStartInfo("docker-registry", ["serve", config]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        registry.ErrorDataReceived += (_, _) => { };
        registry.OutputDataReceived += (_, _) => { };
        registry.BeginErrorReadLine();
        registry.BeginOutputReadLine();
        try
        {
            await WaitForPortAsync(port, cancellationToken);
            string image = $"127.0.0.1:{port}/library/redis:7";
            Run("skopeo", ["copy", "-q", "--dest-tls-verify=false", $"oci:{layout}:redis", "docker://" + image]);

            var ours = new List<double>();
            var skopeo = new List<double>();
            PulledImage? pulled = null;
            for (int i = 0; i < Runs; i++)
            {
                // Alternate so that neither side always runs on a warmer machine.
                string store = Path.Combine(context.WorkDirectory, $"cache-{i}");
                var clock = Stopwatch.StartNew();
                using (var client = new RegistryClient(new RegistryOptions()))
                {
                    pulled = await new ImagePuller(new ContentStore(store), client).PullAsync(image, null, cancellationToken);
                }
                ours.Add(clock.Elapsed.TotalMilliseconds);
                string oci = Path.Combine(context.WorkDirectory, $"skopeo-{i}");
                clock.Restart();
                Run("skopeo", ["copy", "-q", "--src-tls-verify=false", "docker://" + image, $"oci:{oci}:redis"]);
                skopeo.Add(clock.Elapsed.TotalMilliseconds);
            }
            long compressed = pulled!.Layers.Sum(l => l.Descriptor.Size);
            context.Report.WriteLine($"redis fixture: {pulled.Layers.Count} layers, {compressed / 1048576.0:F1} MiB compressed; median of {Runs} runs each, empty cache/destination every run");
            context.Report.WriteLine("| what | supermachine | peer | ratio (ours/peer) |");
            context.Report.WriteLine("|---|---|---|---|");
            context.Row("pull into empty cache vs skopeo copy docker:// -> oci:", $"{Median(ours):F0} ms", $"{Median(skopeo):F0} ms", $"{Median(ours) / Median(skopeo):F2}");

            // Flatten: entries streamed and every byte of content read (what the squashfs writer does), and flatten + write to a directory vs umoci unpack.
            var streamOnly = new List<double>();
            var toDisk = new List<double>();
            var umoci = new List<double>();
            long bytes = 0;
            for (int i = 0; i < Runs; i++)
            {
                var clock = Stopwatch.StartNew();
                bytes = 0;
                byte[] buffer = new byte[1 << 16];
                await foreach (FileSystemEntry entry in LayerFlattener.For(pulled).FlattenAsync(cancellationToken))
                {
                    if (entry.OpenContent is not null)
                    {
                        await using Stream s = entry.OpenContent();
                        int n;
                        while ((n = await s.ReadAsync(buffer, cancellationToken)) > 0)
                        {
                            bytes += n;
                        }
                    }
                }
                streamOnly.Add(clock.Elapsed.TotalMilliseconds);
                string dir = Path.Combine(context.WorkDirectory, $"rootfs-{i}");
                clock.Restart();
                await DirectoryTreeWriter.WriteAsync(LayerFlattener.For(pulled).FlattenAsync(cancellationToken), dir, null, cancellationToken);
                toDisk.Add(clock.Elapsed.TotalMilliseconds);
                string bundle = Path.Combine(context.WorkDirectory, $"umoci-{i}");
                clock.Restart();
                Run("umoci", ["unpack", "--image", $"{layout}:redis", bundle]);
                umoci.Add(clock.Elapsed.TotalMilliseconds);
                Directory.Delete(dir, true);
                Directory.Delete(bundle, true);
            }
            context.Row("flatten, stream only (content read, nothing written)", $"{Median(streamOnly):F0} ms = {bytes / 1048576.0 / (Median(streamOnly) / 1000):F0} MB/s", "-", "-");
            context.Row("flatten + write directory vs umoci unpack", $"{Median(toDisk):F0} ms = {bytes / 1048576.0 / (Median(toDisk) / 1000):F0} MB/s", $"{Median(umoci):F0} ms", $"{Median(toDisk) / Median(umoci):F2}");
            context.Report.WriteLine($"uncompressed file content: {bytes / 1048576.0:F1} MiB");
        }
        finally
        {
            registry.Kill();
            await registry.WaitForExitAsync(cancellationToken);
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static void Run(string tool, string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(tool, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)}: {err}");
        }
    }

    private static int FreePort()
    {
        var l = new TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static async Task WaitForPortAsync(int port, CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        for (int i = 0; i < 100; i++)
        {
            try
            {
                using var _ = await http.GetAsync($"http://127.0.0.1:{port}/v2/", cancellationToken);
                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
        throw new TimeoutException("registry did not start");
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Supermachine.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Supermachine.sln not found");
    }
}
