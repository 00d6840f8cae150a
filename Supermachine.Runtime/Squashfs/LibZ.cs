using System.Runtime.InteropServices;

namespace Supermachine.Squashfs;

/// <summary>
/// The system zlib, when there is one (Linux, macOS): its level-9 deflate is the one mksquashfs
/// uses, and it packs small text files a few percent tighter than the zlib-ng inside .NET.
/// Elsewhere the gzip codec falls back to <see cref="System.IO.Compression.ZLibStream"/>.
/// </summary>
/// <remarks>
/// Bound through function pointers rather than [LibraryImport]: an assembly gets one import
/// resolver and LibZstd owns it. zlib's uLong is 64-bit on these platforms, hence nuint.
/// </remarks>
internal static unsafe class LibZ
{
    private static readonly delegate* unmanaged<byte*, nuint*, byte*, nuint, int, int> Compress2 = Bind();

    public static bool IsAvailable => Compress2 != null;

    /// <summary>One zlib stream of <paramref name="source"/>; returns its length, or -1 when it does not fit <paramref name="destination"/>.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, int level)
    {
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            nuint length = (nuint)destination.Length;
            int result = Compress2(d, &length, s, (nuint)source.Length, level);
            return result == 0 ? (int)length
                : result == -5 /* Z_BUF_ERROR: did not fit */ ? -1
                : throw new InvalidOperationException($"zlib compress2 failed with {result}");
        }
    }

    private static delegate* unmanaged<byte*, nuint*, byte*, nuint, int, int> Bind()
    {
        string[] candidates = OperatingSystem.IsLinux() ? ["libz.so.1", "libz.so"]
            : OperatingSystem.IsMacOS() ? ["libz.1.dylib", "libz.dylib"]
            : [];
        foreach (string candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, out nint handle) && NativeLibrary.TryGetExport(handle, "compress2", out nint export))
            {
                return (delegate* unmanaged<byte*, nuint*, byte*, nuint, int, int>)export;
            }
        }
        return null;
    }
}
