using System.Runtime.InteropServices;

namespace Supermachine.Locations;

/// <summary>
/// Where the native files shipped with the runtime are found: the guest's kernel, modules and agent,
/// and host helpers such as owner-watch. One list serves the guest and the engine, so neither asks
/// the other where things are.
/// </summary>
internal static class NativeAssetDirectories
{
    /// <summary>The runtime identifier of this host, e.g. linux-x64 or osx-arm64.</summary>
    public static string HostRuntimeIdentifier =>
        (OperatingSystem.IsMacOS() ? "osx-" : "linux-") + (RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "arm64" : "x64");

    /// <summary>The runtime identifier of the guest this host runs natively: linux on the host's architecture.</summary>
    public static string NativeGuestRuntimeIdentifier => RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";

    /// <summary>
    /// The folders searched for the files of a <paramref name="guestRuntimeIdentifier"/> guest: in each
    /// folder of <see cref="Search"/> for this host, its guest-RID/ subfolder (where a package puts a
    /// guest the host emulates) and, for the host's native guest, the folder itself; last the set-up
    /// cache's assets/RID.
    /// </summary>
    public static IEnumerable<string> SearchGuest(string guestRuntimeIdentifier)
    {
        bool native = guestRuntimeIdentifier == NativeGuestRuntimeIdentifier;
        foreach (string dir in Search(HostRuntimeIdentifier))
        {
            if (dir == SetupCache(HostRuntimeIdentifier))
            {
                continue;
            }
            yield return Path.Combine(dir, "guest-" + guestRuntimeIdentifier);
            if (native)
            {
                yield return dir;
            }
        }
        yield return SetupCache(guestRuntimeIdentifier);
    }

    /// <summary>
    /// The folders searched, in order, for files of <paramref name="runtimeIdentifier"/>:
    /// SUPERMACHINE_ASSETS, the app, the package's runtimes/RID/native, and the set-up cache of a checkout.
    /// </summary>
    public static IEnumerable<string> Search(string runtimeIdentifier)
    {
        if (Environment.GetEnvironmentVariable("SUPERMACHINE_ASSETS") is { Length: > 0 } env)
        {
            yield return Path.GetFullPath(env);
        }
        string baseDir = AppContext.BaseDirectory;
        yield return baseDir;
        yield return Path.Combine(baseDir, "runtimes", runtimeIdentifier, "native");
        // Running straight from the NuGet package folder: lib/net10.0/ → runtimes/RID/native/.
        string? assemblyDir = Path.GetDirectoryName(typeof(NativeAssetDirectories).Assembly.Location);
        if (!string.IsNullOrEmpty(assemblyDir) && !string.Equals(Path.GetFullPath(assemblyDir).TrimEnd('/'), Path.GetFullPath(baseDir).TrimEnd('/'), StringComparison.Ordinal))
        {
            yield return assemblyDir;
            yield return Path.GetFullPath(Path.Combine(assemblyDir, "..", "..", "runtimes", runtimeIdentifier, "native"));
        }
        yield return SetupCache(runtimeIdentifier);
    }

    /// <summary>Where eng/setup.sh of a checkout puts the files of <paramref name="runtimeIdentifier"/>.</summary>
    private static string SetupCache(string runtimeIdentifier)
    {
        string cache = Environment.GetEnvironmentVariable("SUPERMACHINE_SETUP_CACHE") is { Length: > 0 } c
            ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "supermachine-setup");
        return Path.Combine(cache, "assets", runtimeIdentifier);
    }
}
