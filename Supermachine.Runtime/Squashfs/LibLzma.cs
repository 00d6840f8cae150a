using System.Runtime.InteropServices;

namespace Supermachine.Squashfs;

/// <summary>
/// The system liblzma for squashfs "xz" blocks: one .xz stream per block with an LZMA2 filter and
/// a CRC32 check, as mksquashfs writes them and the kernel's xz decoder reads them. Bound through
/// function pointers for the reason <see cref="LibZ"/> gives; absent, xz is reported as unavailable.
/// </summary>
internal static unsafe class LibLzma
{
    private const ulong FilterLzma2 = 0x21;
    private const ulong VliUnknown = ulong.MaxValue;
    private const int CheckCrc32 = 1;
    private const int Ok = 0;
    private const int BufferError = 10;

    // lzma_options_lzma is about 112 bytes on 64-bit; a larger, zeroed buffer leaves its reserved fields zero.
    private const int OptionsSize = 256;

    private static readonly (nint Preset, nint Encode, nint Decode) Exports = Bind();

    public static bool IsAvailable => Exports.Encode != 0;

    /// <summary>
    /// One .xz stream of <paramref name="source"/> whose LZMA2 dictionary is <paramref name="dictionarySize"/>
    /// (the kernel decodes blocks with a dictionary of the block size unless the image says otherwise);
    /// returns its length, or -1 when it does not fit <paramref name="destination"/>.
    /// </summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> destination, uint preset, uint dictionarySize)
    {
        byte* options = stackalloc byte[OptionsSize];
        new Span<byte>(options, OptionsSize).Clear();
        if (((delegate* unmanaged<byte*, uint, byte>)Exports.Preset)(options, preset) != 0)
        {
            throw new InvalidOperationException($"liblzma has no preset {preset}");
        }
        *(uint*)options = dictionarySize; // dict_size is the first field of lzma_options_lzma
        ulong* filters = stackalloc ulong[4];
        filters[0] = FilterLzma2;
        filters[1] = (ulong)(nint)options;
        filters[2] = VliUnknown;
        filters[3] = 0;
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            nuint position = 0;
            int result = ((delegate* unmanaged<ulong*, int, void*, byte*, nuint, byte*, nuint*, nuint, int>)Exports.Encode)(
                filters, CheckCrc32, null, s, (nuint)source.Length, d, &position, (nuint)destination.Length);
            return result == Ok ? (int)position
                : result == BufferError ? -1
                : throw new InvalidOperationException($"xz compression failed with liblzma code {result}");
        }
    }

    /// <summary>Decodes one .xz stream; returns the decoded length. Throws <see cref="InvalidDataException"/> on bad data.</summary>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        fixed (byte* s = source)
        fixed (byte* d = destination)
        {
            ulong memoryLimit = 64UL << 20;
            nuint inPosition = 0;
            nuint outPosition = 0;
            int result = ((delegate* unmanaged<ulong*, uint, void*, byte*, nuint*, nuint, byte*, nuint*, nuint, int>)Exports.Decode)(
                &memoryLimit, 0, null, s, &inPosition, (nuint)source.Length, d, &outPosition, (nuint)destination.Length);
            return result == Ok ? (int)outPosition : throw new InvalidDataException($"xz: liblzma could not decode a block (code {result})");
        }
    }

    private static (nint, nint, nint) Bind()
    {
        string[] candidates = OperatingSystem.IsLinux() ? ["liblzma.so.5", "liblzma.so"]
            : OperatingSystem.IsMacOS() ? ["liblzma.5.dylib", "liblzma.dylib", "/opt/homebrew/lib/liblzma.dylib", "/usr/local/lib/liblzma.dylib"]
            : ["liblzma.dll", "lzma.dll"];
        foreach (string candidate in candidates)
        {
            if (NativeLibrary.TryLoad(candidate, out nint handle)
                && NativeLibrary.TryGetExport(handle, "lzma_lzma_preset", out nint preset)
                && NativeLibrary.TryGetExport(handle, "lzma_stream_buffer_encode", out nint encode)
                && NativeLibrary.TryGetExport(handle, "lzma_stream_buffer_decode", out nint decode))
            {
                return (preset, encode, decode);
            }
        }
        return (0, 0, 0);
    }
}
