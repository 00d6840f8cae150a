namespace Supermachine.Tests.Infrastructure;

/// <summary>Facts about where the tests run, shared by the skip rules and fixtures.</summary>
public static class TestEnvironment
{
    /// <summary>Under CI=true nothing may skip: a missing tool is a failure there.</summary>
    public static bool IsCI => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static bool IsRoot => OperatingSystem.IsLinux() && Environment.UserName == "root";

    /// <summary>The repository root (the folder holding Supermachine.sln).</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>Where eng/setup.sh keeps what it builds once per machine (SUPERMACHINE_SETUP_CACHE, else ~/.cache/supermachine-setup).</summary>
    public static string SetupCache =>
        Environment.GetEnvironmentVariable("SUPERMACHINE_SETUP_CACHE") is { Length: > 0 } cache ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "supermachine-setup");

    private static readonly Lazy<string> DebianFixtures = new(BuildDebianFixtures);

    /// <summary>
    /// The OCI layout of tests/fixtures/debian-images.sh (set-up builds it; the first use builds it
    /// when set-up has not): tags debian, postgres, mariadb, rabbitmq, nginx, jvm, made from Debian
    /// bookworm packages with entrypoints that behave like the official images'.
    /// </summary>
    public static string DebianFixturesLayout => Path.Combine(DebianFixtures.Value, "layout");

    /// <summary>"oci-layout:...:TAG" of a Debian fixture image, the reference a bake takes.</summary>
    public static string DebianFixture(string tag) => $"oci-layout:{DebianFixturesLayout}:{tag}";

    private static string BuildDebianFixtures()
    {
        string dir = Path.Combine(SetupCache, "debian-fixtures");
        // Returns at once when its marker matches; a cold build takes minutes (mmdebstrap, six images).
        ProcessRunner.Run("bash", [Path.Combine(RepositoryRoot, "tests", "fixtures", "debian-images.sh"), dir], TimeSpan.FromMinutes(40));
        return dir;
    }

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
