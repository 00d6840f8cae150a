namespace Supermachine.Tests.Infrastructure;

/// <summary>
/// A fact that needs external tools (qemu-system-x86_64, mksquashfs, registry, ...). On a
/// developer machine without them it skips with the reason; under CI=true it always runs, so a
/// missing tool fails loudly instead of hiding as a skip.
/// </summary>
public sealed class RequiresToolFactAttribute : FactAttribute
{
    public RequiresToolFactAttribute(params string[] tools)
    {
        string[] missing = tools.Where(t => TestEnvironment.FindTool(t) is null).ToArray();
        if (missing.Length > 0 && !TestEnvironment.IsCI)
        {
            Skip = $"needs {string.Join(", ", missing)} (run eng/setup.sh); never skipped when CI=true";
        }
    }
}

/// <summary>As <see cref="RequiresToolFactAttribute"/>, and also needs root (loop mounts, device nodes).</summary>
public sealed class RequiresRootFactAttribute : FactAttribute
{
    public RequiresRootFactAttribute(params string[] tools)
    {
        string[] missing = tools.Where(t => TestEnvironment.FindTool(t) is null).ToArray();
        if (!TestEnvironment.IsCI && (missing.Length > 0 || !TestEnvironment.IsRoot))
        {
            Skip = $"needs root and {string.Join(", ", tools)}; never skipped when CI=true";
        }
    }
}
