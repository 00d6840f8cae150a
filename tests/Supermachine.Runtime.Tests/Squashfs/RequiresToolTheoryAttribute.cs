using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Squashfs;

/// <summary>The theory form of <see cref="RequiresToolFactAttribute"/>: skips without the tools, never under CI=true.</summary>
public sealed class RequiresToolTheoryAttribute : TheoryAttribute
{
    public RequiresToolTheoryAttribute(params string[] tools)
    {
        string[] missing = tools.Where(t => TestEnvironment.FindTool(t) is null).ToArray();
        if (missing.Length > 0 && !TestEnvironment.IsCI)
        {
            Skip = $"needs {string.Join(", ", missing)} (run eng/setup.sh); never skipped when CI=true";
        }
    }
}

/// <summary>The theory form of <see cref="RequiresRootFactAttribute"/>.</summary>
public sealed class RequiresRootTheoryAttribute : TheoryAttribute
{
    public RequiresRootTheoryAttribute(params string[] tools)
    {
        string[] missing = tools.Where(t => TestEnvironment.FindTool(t) is null).ToArray();
        if (!TestEnvironment.IsCI && (missing.Length > 0 || !TestEnvironment.IsRoot))
        {
            Skip = $"needs root and {string.Join(", ", tools)}; never skipped when CI=true";
        }
    }
}
