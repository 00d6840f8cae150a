using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Supermachine.FileSystem;

/// <summary>Finds the allocated regions of a sparse file (SEEK_DATA/SEEK_HOLE where the OS has them).</summary>
internal static partial class SparseFile
{
    private const int SeekData = 3;
    private const int SeekHole = 4;

    /// <summary>[start, end) ranges that may hold data; the whole file when the OS cannot tell.</summary>
    public static IEnumerable<(long Start, long End)> DataRegions(SafeFileHandle handle, long length)
    {
        if (!OperatingSystem.IsLinux())
        {
            yield return (0, length);
            yield break;
        }
        int fd = (int)handle.DangerousGetHandle();
        long position = 0;
        while (position < length)
        {
            long data = LSeek(fd, position, SeekData);
            if (data < 0)
            {
                // ENXIO: no data after position. Anything else (EINVAL: unsupported): read it all.
                if (Marshal.GetLastPInvokeError() != 6 /* ENXIO */)
                {
                    yield return (position, length);
                }
                yield break;
            }
            long hole = LSeek(fd, data, SeekHole);
            long end = hole < 0 ? length : Math.Min(hole, length);
            yield return (data, end);
            position = end;
        }
    }

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);
}
