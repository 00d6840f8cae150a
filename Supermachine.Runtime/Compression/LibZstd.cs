using System.Reflection;
using System.Runtime.InteropServices;
using Supermachine.Diagnostics;

namespace Supermachine.Compression;

/// <summary>
/// The system libzstd through P/Invoke: NuGet here has no managed zstd, and every host that has
/// zstd-compressed layers has the library. Missing it is an SM2001 that says how to install it.
/// </summary>
internal static unsafe partial class LibZstd
{
    private const string Library = "zstd";

    static LibZstd()
    {
        NativeLibrary.SetDllImportResolver(typeof(LibZstd).Assembly, Resolve);
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct InBuffer
    {
        public byte* Source;
        public nuint Size;
        public nuint Position;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct OutBuffer
    {
        public byte* Destination;
        public nuint Size;
        public nuint Position;
    }

    /// <summary>Throws SM2001 unless the library can be loaded.</summary>
    public static void EnsureAvailable()
    {
        if (!IsAvailable)
        {
            throw Errors.ZstdLibraryMissing();
        }
    }

    // Lazy: the resolver above must be registered before the first call into the library.
    private static readonly Lazy<bool> Available = new(Probe);

    public static bool IsAvailable => Available.Value;

    [LibraryImport(Library, EntryPoint = "ZSTD_compressBound")]
    internal static partial nuint CompressBound(nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_compress")]
    internal static partial nuint Compress(byte* destination, nuint destinationCapacity, byte* source, nuint sourceSize, int level);

    [LibraryImport(Library, EntryPoint = "ZSTD_decompress")]
    internal static partial nuint Decompress(byte* destination, nuint destinationCapacity, byte* source, nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_isError")]
    internal static partial uint IsError(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")]
    internal static partial byte* GetErrorName(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_createDStream")]
    internal static partial nint CreateDStream();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeDStream")]
    internal static partial nuint FreeDStream(nint stream);

    [LibraryImport(Library, EntryPoint = "ZSTD_initDStream")]
    internal static partial nuint InitDStream(nint stream);

    [LibraryImport(Library, EntryPoint = "ZSTD_decompressStream")]
    internal static partial nuint DecompressStream(nint stream, OutBuffer* output, InBuffer* input);

    [LibraryImport(Library, EntryPoint = "ZSTD_DStreamInSize")]
    internal static partial nuint DStreamInSize();

    [LibraryImport(Library, EntryPoint = "ZSTD_DStreamOutSize")]
    internal static partial nuint DStreamOutSize();

    /// <summary>Throws <see cref="InvalidDataException"/> with zstd's own words when <paramref name="code"/> is an error.</summary>
    internal static nuint Check(nuint code)
    {
        if (IsError(code) != 0)
        {
            throw new InvalidDataException("zstd: " + Marshal.PtrToStringAnsi((nint)GetErrorName(code)));
        }
        return code;
    }

    private static bool Probe()
    {
        try
        {
            return CompressBound(1) > 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library)
        {
            return 0;
        }
        string[] candidates = OperatingSystem.IsWindows() ? ["libzstd.dll", "zstd.dll"]
            : OperatingSystem.IsMacOS() ? ["libzstd.1.dylib", "libzstd.dylib", "/opt/homebrew/lib/libzstd.dylib", "/usr/local/lib/libzstd.dylib"]
            : ["libzstd.so.1", "libzstd.so"];
        foreach (string candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out nint handle))
            {
                return handle;
            }
        }
        return 0;
    }
}
