using System.Diagnostics;

namespace Supermachine.Tests.Squashfs;

/// <summary>Runs a real tool (mksquashfs, unsquashfs, sqfsdiff, mount) and captures what it says.</summary>
internal static class ExternalTool
{
    public static (int ExitCode, string Output, string Error) Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish in 5 minutes");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Runs and insists on exit code 0; returns stdout.</summary>
    public static string Check(string file, params string[] arguments)
    {
        var (code, output, error) = Run(file, arguments);
        if (code != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {code}: {error}{output}");
        }
        return output;
    }

    public static string Bash(string script) => Check("/bin/bash", "-euo", "pipefail", "-c", script);
}
