using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Supermachine.Vmm;

namespace Supermachine.FileSystem;

/// <summary>
/// Copies a file so the copy shares no writable inode with its source: a reflink where the file
/// system has them (btrfs, xfs: instant, blocks shared copy-on-write), else a copy of the data
/// regions only, in the kernel (copy_file_range), leaving the holes of a sparse RAM file as holes.
/// A hard link would be cheaper still, but a write through either name changes both; and QEMU
/// (7.2) opens a snapshot's RAM file read-write even for a private mapping, so a read-only link
/// cannot be restored by a non-root user.
/// </summary>
internal static partial class FileClone
{
    private const uint Ficlone = 0x40049409;
    private const int Chunk = 1 << 20;

    /// <summary>How <see cref="Copy"/> made its copy: by a reflink or by copying data.</summary>
    public enum Method
    {
        Reflink,
        Copy,
    }

    /// <summary>Makes <paramref name="destination"/> (which must not exist) an independent copy of <paramref name="source"/>, with its permissions.</summary>
    public static Method Copy(string source, string destination)
    {
        if (!OperatingSystem.IsLinux())
        {
            File.Copy(source, destination);
            return Method.Copy;
        }
        using SafeFileHandle input = File.OpenHandle(source, FileMode.Open, FileAccess.Read, FileShare.Read);
        using SafeFileHandle output = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        File.SetUnixFileMode(output, File.GetUnixFileMode(input));
        if (Ioctl((int)output.DangerousGetHandle(), Ficlone, (int)input.DangerousGetHandle()) == 0)
        {
            return Method.Reflink;
        }
        long length = RandomAccess.GetLength(input);
        RandomAccess.SetLength(output, length);
        byte[]? buffer = null;
        foreach ((long start, long end) in SparseFile.DataRegions(input, length))
        {
            long offset = start;
            while (offset < end)
            {
                long copied = CopyRange(input, output, offset, (nuint)Math.Min(end - offset, 1L << 30));
                if (copied <= 0)
                {
                    // No copy_file_range here (or across these file systems): through user space.
                    buffer ??= new byte[Chunk];
                    int read = RandomAccess.Read(input, buffer.AsSpan(0, (int)Math.Min(Chunk, end - offset)), offset);
                    if (read == 0)
                    {
                        break;
                    }
                    RandomAccess.Write(output, buffer.AsSpan(0, read), offset);
                    copied = read;
                }
                offset += copied;
            }
        }
        return Method.Copy;
    }

    private static unsafe long CopyRange(SafeFileHandle input, SafeFileHandle output, long offset, nuint length)
    {
        long inOffset = offset;
        long outOffset = offset;
        return CopyFileRange((int)input.DangerousGetHandle(), &inOffset, (int)output.DangerousGetHandle(), &outOffset, length, 0);
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, int sourceFd);

    [LibraryImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    private static unsafe partial nint CopyFileRange(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);
}
