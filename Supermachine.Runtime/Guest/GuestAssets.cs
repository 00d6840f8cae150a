using Supermachine.Diagnostics;
using Supermachine.Locations;
using Supermachine.Vmm;

namespace Supermachine.Guest;

/// <summary>
/// The files a guest boots from: the kernel, the modules it loads (in order) and the agent.
/// Found, in this order, via SUPERMACHINE_ASSETS, next to the application, in the
/// Supermachine.Runtime package's runtimes/HOST-RID/native/ (flat for the host's own guest, guest-RID/ for
/// an emulated one), or in the set-up cache that
/// eng/setup.sh fills in a checkout. A folder may hold them flat (vmlinuz, modules.order,
/// modules/, agent, as the package does) or as the set-up cache does (kernel/, agent/).
/// </summary>
internal sealed record GuestAssets
{
    public required string KernelPath { get; init; }

    /// <summary>Module names in load order (dependencies first).</summary>
    public required IReadOnlyList<string> ModuleOrder { get; init; }

    /// <summary>Full path of each module of <see cref="ModuleOrder"/>, in the same order.</summary>
    public required IReadOnlyList<string> ModulePaths { get; init; }

    public required string AgentPath { get; init; }

    /// <summary>
    /// Finds the assets of an <paramref name="architecture"/> guest (null: the host's), or throws
    /// SM3001 naming what is missing and where it looked.
    /// </summary>
    public static GuestAssets Locate(GuestArchitecture? architecture = null)
    {
        var looked = new List<string>();
        string? missing = null;
        foreach (string dir in NativeAssetDirectories.SearchGuest((architecture ?? GuestArchitecture.Host).RuntimeIdentifier))
        {
            looked.Add(dir);
            if (TryLoad(dir, out GuestAssets? assets, out string? what))
            {
                return assets!;
            }
            missing ??= what;
        }
        throw Errors.GuestAssetMissing(missing ?? "vmlinuz", string.Join(", ", looked));
    }

    /// <summary>Loads the assets of one folder (flat or set-up cache layout).</summary>
    public static GuestAssets FromDirectory(string directory)
    {
        if (TryLoad(directory, out GuestAssets? assets, out string? what))
        {
            return assets!;
        }
        throw Errors.GuestAssetMissing(what, directory);
    }

    private static bool TryLoad(string dir, out GuestAssets? assets, out string what)
    {
        assets = null;
        string kernelDir = File.Exists(Path.Combine(dir, "vmlinuz")) ? dir : Path.Combine(dir, "kernel");
        string kernel = Path.Combine(kernelDir, "vmlinuz");
        string order = Path.Combine(kernelDir, "modules.order");
        string agent = File.Exists(Path.Combine(dir, "agent")) ? Path.Combine(dir, "agent") : Path.Combine(dir, "agent", "agent");
        foreach (string required in new[] { kernel, order, agent })
        {
            if (!File.Exists(required))
            {
                what = Path.GetFileName(required);
                return false;
            }
        }
        var names = new List<string>();
        var paths = new List<string>();
        foreach (string line in File.ReadAllLines(order))
        {
            string name = line.Trim();
            if (name.Length == 0)
            {
                continue;
            }
            if (name.Contains('/') || name.Contains('\\') || name.StartsWith('.'))
            {
                what = $"modules.order entry '{name}'";
                return false;
            }
            string module = Path.Combine(kernelDir, "modules", name + ".ko");
            if (!File.Exists(module))
            {
                module = Path.Combine(kernelDir, name + ".ko");
            }
            if (!File.Exists(module))
            {
                what = $"modules/{name}.ko";
                return false;
            }
            names.Add(name);
            paths.Add(module);
        }
        assets = new GuestAssets { KernelPath = kernel, ModuleOrder = names, ModulePaths = paths, AgentPath = agent };
        what = "";
        return true;
    }
}
