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
            catch (IOException)
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 250);
            }
        }
    }
}
