using System.Security.Cryptography;
using System.Text;

namespace Supermachine.Guest;

/// <summary>
/// Writes the guest's initramfs: the agent as /init, the kernel modules under /modules and their
/// load order in /modules.order, and /dev/console so PID 1 has its standard streams. The bytes
/// depend only on the files' contents, so the initramfs hash can go into a bake fingerprint.
/// </summary>
internal static class InitramfsBuilder
{
    public static void Write(Stream output, GuestAssets assets)
    {
        using var cpio = new CpioWriter(output, leaveOpen: true);
        cpio.AddDirectory("dev");
        cpio.AddCharacterDevice("dev/console", 5, 1);
        cpio.AddDirectory("proc", 0x16D /* 0555 */);
        cpio.AddDirectory("sys", 0x16D);
        cpio.AddFile("init", File.ReadAllBytes(assets.AgentPath), mode: 0x1ED /* 0755 */);
        cpio.AddDirectory("modules");
        for (int i = 0; i < assets.ModuleOrder.Count; i++)
        {
            cpio.AddFile($"modules/{assets.ModuleOrder[i]}.ko", File.ReadAllBytes(assets.ModulePaths[i]));
        }
        cpio.AddFile("modules.order", Encoding.UTF8.GetBytes(string.Join("", assets.ModuleOrder.Select(m => m + "\n"))));
    }

    /// <summary>
    /// The initramfs for <paramref name="assets"/> in <paramref name="directory"/>, named by the
    /// SHA-256 of its bytes (so it can go into fingerprints and manifests); written once.
    /// </summary>
    public static string EnsureCached(string directory, GuestAssets assets)
    {
        var buffer = new MemoryStream();
        Write(buffer, assets);
        string hash = Convert.ToHexStringLower(SHA256.HashData(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
        string path = Path.Combine(directory, $"initramfs-{hash[..16]}.cpio");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(directory);
            string temp = path + ".tmp-" + Environment.ProcessId + "-" + Environment.CurrentManagedThreadId;
            try
            {
                using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
                {
                    buffer.Position = 0;
                    buffer.CopyTo(file);
                }
                File.Move(temp, path, overwrite: true);
            }
            finally
            {
                File.Delete(temp);
            }
        }
        return path;
    }

    /// <summary>Writes the initramfs to <paramref name="path"/> through a temporary file and a rename.</summary>
    public static void Write(string path, GuestAssets assets)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
            {
                Write(file, assets);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
