using System.Diagnostics;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Guest;

/// <summary>The agent of this checkout, built once per test run with guest/agent/build.sh (musl-gcc).</summary>
internal static class AgentBinary
{
    private static readonly Lazy<string> Built = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Path => Built.Value;

    private static string Build()
    {
        string dir = Directory.CreateTempSubdirectory("sm-agent-build").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(dir, recursive: true);
        string script = System.IO.Path.Combine(TestEnvironment.RepositoryRoot, "guest", "agent", "build.sh");
        var psi = new ProcessStartInfo(script, [dir]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException("guest/agent/build.sh failed: " + err);
        }
        return System.IO.Path.Combine(dir, "agent");
    }
}
