namespace Supermachine.Tests.Infrastructure;

/// <summary>Facts about where the tests run, shared by the skip rules and fixtures.</summary>
public static class TestEnvironment
{
    /// <summary>Under CI=true nothing may skip: a missing tool is a failure there.</summary>
    public static bool IsCI => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static bool IsRoot => OperatingSystem.IsLinux() && Environment.UserName == "root";

    /// <summary>The repository root (the folder holding Supermachine.sln).</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>The full path of <paramref name="tool"/> on PATH, or null.</summary>
    public static string? FindTool(string tool)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        foreach (string dir in new[] { "/usr/sbin", "/sbin", "/usr/bin" })
        {
            string candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
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
        throw new InvalidOperationException("Supermachine.sln not found above " + AppContext.BaseDirectory);
    }
}
