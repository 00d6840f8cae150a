using System.Runtime.InteropServices;

namespace Supermachine.Vmm.Network;

/// <summary>
/// An flock(2) lock on a file, held through a descriptor of its own (not a FileStream: .NET takes
/// locks of its own on the files it opens). The kernel drops it when the process dies, however it
/// dies, which is what lets private-network members and the switch outlive any one process.
/// </summary>
internal sealed partial class LockFile : IDisposable
{
    private const int LockShared = 1, LockExclusive = 2, LockNonBlocking = 4;
    private const int ReadWrite = 2, Create = 0x40, CloseOnExec = 0x80000;

    private int _fd;

    private LockFile(int fd) => _fd = fd;

    /// <summary>The lock on <paramref name="path"/> (made if missing), or null when another descriptor holds one.</summary>
    public static LockFile? TryAcquire(string path)
    {
        int fd = Open(path, ReadWrite | Create | CloseOnExec, Convert.ToInt32("600", 8));
        if (fd < 0)
        {
            throw new IOException($"{path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        if (Flock(fd, LockExclusive | LockNonBlocking) == 0)
        {
            return new LockFile(fd);
        }
        Close(fd);
        return null;
    }

    /// <summary>Waits (polling) for the lock on <paramref name="path"/>.</summary>
    public static async Task<LockFile> AcquireAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            if (TryAcquire(path) is LockFile held)
            {
                return held;
            }
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{path} stayed locked for {timeout.TotalSeconds:F0} s");
            }
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether a live process holds the lock on <paramref name="path"/>.</summary>
    public static bool IsHeld(string path)
    {
        int fd = Open(path, CloseOnExec, 0);
        if (fd < 0)
        {
            return false;
        }
        bool held = Flock(fd, LockShared | LockNonBlocking) != 0;
        Close(fd);
        return held;
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
