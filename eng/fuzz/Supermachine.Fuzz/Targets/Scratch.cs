namespace Supermachine.Fuzz.Targets;

/// <summary>
/// A per-process scratch directory for targets whose code under test reads files (in /dev/shm
/// when there is one, so an iteration costs no disk I/O), removed at exit.
/// </summary>
internal static class Scratch
{
    private static readonly Lazy<string> Root = new(() =>
    {
        string parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        string root = Path.Combine(parent, $"supermachine-fuzz-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return root;
    });

    public static string File(string name) => Path.Combine(Root.Value, name);
}
