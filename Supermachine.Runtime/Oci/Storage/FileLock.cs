namespace Supermachine.Oci.Storage;

/// <summary>
/// A cross-process exclusive lock on a file: FileShare.None is an exclusive flock on Unix and a
/// share-mode lock on Windows, and both die with the process, so a killed holder never leaves a
/// stale lock. Used wherever two builds may race for the same cache entry.
/// </summary>
internal static class FileLock
{
    /// <summary>Waits (cancellably) until <paramref name="path"/> is locked by this process; dispose the stream to release.</summary>
    public static async Task<FileStream> AcquireAsync(string path, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        int delay = 10;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
            }
            catch (IOException e) when (IsHeldByAnother(e))
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 250);
            }
        }
    }

    /// <summary>Locks <paramref name="path"/> if nobody holds it; null when another holder (this process included) does.</summary>
    public static FileStream? TryAcquire(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException e) when (IsHeldByAnother(e))
        {
            return null;
        }
    }

    // Only "another process holds it" is worth waiting for; a full disk, a read-only file system or a
    // broken path fails at once instead of spinning. The platform's code for a held lock: EWOULDBLOCK
    // (Linux 11, macOS and the BSDs 35), or ERROR_SHARING_VIOLATION / ERROR_LOCK_VIOLATION on Windows.
    private static bool IsHeldByAnother(IOException e) =>
        OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 32 or 33
        : OperatingSystem.IsLinux() ? e.HResult == 11
        : e.HResult == 35;
}
