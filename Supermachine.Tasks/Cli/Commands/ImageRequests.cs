using Supermachine.Bake;
using Supermachine.Oci.Locking;

namespace Supermachine.Tasks.Cli.Commands;

/// <summary>Command-line options to the same <see cref="MicroVmImageRequest"/> an MSBuild item makes, validated the same way.</summary>
internal static class ImageRequests
{
    public static MicroVmImageRequest FromCommandLine(ParsedCommand command, string reference)
    {
        string? cmd = command.Trailing.Count > 0
            ? string.Join(' ', command.Trailing.Select(Quote))
            : command.Value("cmd");
        var metadata = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Name"] = command.Value("name"),
            ["Port"] = command.Value("port"),
            ["Env"] = string.Join(';', command.Values("env")),
            ["Command"] = cmd,
            ["MemoryMiB"] = command.Value("memory"),
            ["Vcpus"] = command.Value("vcpus"),
            ["Platform"] = command.Value("platform"),
        };
        return MicroVmImageRequest.FromMetadata(reference, key => metadata.GetValueOrDefault(key));
    }

    /// <summary>The lock mode the SDK passes to the host (Default, Locked, Refresh).</summary>
    public static string LockMode => Environment.GetEnvironmentVariable("SUPERMACHINE_LOCK_MODE") is { Length: > 0 } m ? m : "Default";

    /// <summary>The lock file the SDK passes to the host, or null when baking by hand.</summary>
    public static ImageLockFile? LockFileFromEnvironment() =>
        Environment.GetEnvironmentVariable("SUPERMACHINE_LOCK_FILE") is { Length: > 0 } path ? ImageLockFile.Load(path) : null;

    public static async Task SaveLockFileAsync(ImageLockFile? lockFile, CancellationToken cancellationToken)
    {
        if (lockFile is not null && lockFile.IsChanged && Environment.GetEnvironmentVariable("SUPERMACHINE_LOCK_FILE") is { Length: > 0 } path)
        {
            await lockFile.SaveAsync(path, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@%+".Contains(c)) ? word : "'" + word.Replace("'", "'\\''") + "'";
}
