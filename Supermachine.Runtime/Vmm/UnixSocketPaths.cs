using System.Text;

namespace Supermachine.Vmm;

/// <summary>
/// The length limit of a unix socket path: sun_path holds 108 bytes on Linux and 104 on macOS and
/// the BSDs, the terminating NUL included. A longer path fails only when QEMU binds it, with an
/// unhelpful message, so runtime directories are checked up front.
/// </summary>
internal static class UnixSocketPaths
{
    /// <summary>The most bytes a socket path may have on <paramref name="os"/> (sun_path less its NUL).</summary>
    public static int Limit(HostOS os) => os == HostOS.Linux ? 107 : 103;

    /// <summary>The limit on this host.</summary>
    public static int CurrentLimit => Limit(OperatingSystem.IsLinux() ? HostOS.Linux : OperatingSystem.IsMacOS() ? HostOS.MacOS : HostOS.Other);

    /// <summary>Why the socket <paramref name="names"/> in <paramref name="directory"/> do not fit in <paramref name="limit"/> bytes, or null when they do.</summary>
    public static string? TooLong(string directory, IEnumerable<string> names, int limit)
    {
        foreach (string name in names)
        {
            int bytes = Encoding.UTF8.GetByteCount(Path.Combine(directory, name));
            if (bytes > limit)
            {
                return $"the socket path {Path.Combine(directory, name)} is {bytes} bytes long, over the {limit} bytes a unix socket path may have here";
            }
        }
        return null;
    }
}
