using System.Diagnostics;
using System.Text;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>The fixture images of tests/fixtures/images.sh, built once into the set-up cache.</summary>
public static class OciTestFixtures
{
    private static readonly Lazy<string> Built = new(Build);

    /// <summary>The fixtures directory (layout/, zstd-layout/, redis.oci.tar, busybox.docker.tar).</summary>
    public static string Directory => Built.Value;

    public static string Layout => Path.Combine(Directory, "layout");

    public static string ZstdLayout => Path.Combine(Directory, "zstd-layout");

    private static string Build()
    {
        string cache = Environment.GetEnvironmentVariable("SUPERMACHINE_SETUP_CACHE") is { Length: > 0 } c ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "supermachine-setup");
        string dir = Path.Combine(cache, "fixtures");
        // images.sh is idempotent and returns at once when its marker matches.
        ProcessRunner.Run("bash", [Path.Combine(TestEnvironment.RepositoryRoot, "tests", "fixtures", "images.sh"), dir], TimeSpan.FromMinutes(5));
        return dir;
    }
}

/// <summary>Runs a tool to completion, failing the test with its output when it fails.</summary>
public static class ProcessRunner
{
    public static string Run(string tool, IReadOnlyList<string> arguments, TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments)
        {
            start.ArgumentList.Add(a);
        }
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[k] = v;
        }
        using var process = Process.Start(start)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', arguments)} timed out");
        }
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} exited {process.ExitCode}: {stderr}{stdout}");
        }
        return stdout.ToString();
    }
}
