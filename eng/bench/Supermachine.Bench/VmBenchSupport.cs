using System.Diagnostics;
using Supermachine.Vmm;

namespace Supermachine.Bench;

/// <summary>Small shared pieces of the VM benchmarks.</summary>
internal static class VmBenchSupport
{
    public static double Median(IEnumerable<double> values)
    {
        double[] v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    public static string Ms(double ms) => $"{ms:F0} ms";

    /// <summary>The fixture image <paramref name="name"/> of the set-up cache's OCI layout (SUPERMACHINE_SETUP_CACHE).</summary>
    public static string FixtureReference(string name)
    {
        string setupCache = Environment.GetEnvironmentVariable("SUPERMACHINE_SETUP_CACHE") is { Length: > 0 } c ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "supermachine-setup");
        return $"oci-layout:{Path.Combine(setupCache, "fixtures", "layout")}:{name}";
    }

    /// <summary>The qemu-system process serving <paramref name="vm"/> (the child of owner-watch).</summary>
    public static int? QemuPid(IVirtualMachine vm)
    {
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out int pid))
            {
                try
                {
                    string cmd = File.ReadAllText(Path.Combine(dir, "cmdline"));
                    if (cmd.StartsWith(Supermachine.Vmm.Qemu.QemuLocator.Locate(), StringComparison.Ordinal) && cmd.Contains(vm.RuntimeDirectory, StringComparison.Ordinal))
                    {
                        return pid;
                    }
                }
                catch (IOException)
                {
                }
            }
        }
        return null;
    }

    /// <summary>(total, anonymous, file-backed) resident memory of a process in MiB.</summary>
    public static (double Total, double Anon, double File) Rss(int pid)
    {
        double Field(string name) => File.ReadLines($"/proc/{pid}/status")
            .Where(l => l.StartsWith(name + ":", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024)
            .FirstOrDefault();
        return (Field("VmRSS"), Field("RssAnon"), Field("RssFile") + Field("RssShmem"));
    }

    /// <summary>Bytes on disk (allocated blocks) under a directory.</summary>
    public static long DiskUsage(string path)
    {
        var start = new ProcessStartInfo("du", ["-s", "-B1", path]) { RedirectStandardOutput = true };
        using Process p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(output.Split('\t')[0]);
    }
}
