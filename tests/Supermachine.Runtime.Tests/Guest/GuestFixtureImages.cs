using System.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Squashfs;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Guest;

/// <summary>
/// Root filesystems for the VM tests: tests/fixtures/rootfs.sh layers written in order by our
/// squashfs writer (a later layer's entry replaces an earlier one's). Built once per test run.
/// </summary>
internal static class GuestFixtureImages
{
    private static readonly Lazy<string> BusyboxImage = new(() => Build("busybox"), LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<string> RedisImage = new(() => Build("redis"), LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Busybox => BusyboxImage.Value;

    public static string Redis => RedisImage.Value;

    private static string Build(string kind)
    {
        string cache = Environment.GetEnvironmentVariable("SUPERMACHINE_SETUP_CACHE") is { Length: > 0 } c
            ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "supermachine-setup");
        string layers = Path.Combine(cache, "fixtures", "rootfs-" + kind);
        Run(Path.Combine(TestEnvironment.RepositoryRoot, "tests", "fixtures", "rootfs.sh"), kind, layers);
        IEnumerable<FileSystemEntry> entries = Directory.GetDirectories(layers, "layer*").Order(StringComparer.Ordinal).SelectMany(DirectoryTreeReader.Read);
        // Kept in the set-up cache (replaced each run, by rename) rather than leaking a temp dir per run.
        string image = Path.Combine(cache, "fixtures", $"guest-{kind}.squashfs");
        SquashfsWriter.WriteAsync(entries.ToAsyncEnumerable(), image).GetAwaiter().GetResult();
        return image;
    }

    private static void Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({p.ExitCode}): {err.Result}");
        }
    }
}
