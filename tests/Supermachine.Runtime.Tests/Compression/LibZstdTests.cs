using Supermachine.Compression;

namespace Supermachine.Tests.Compression;

public unsafe class LibZstdTests
{
    [Fact]
    public void System_libzstd_round_trips_a_buffer()
    {
        Assert.True(LibZstd.IsAvailable, "libzstd1 must be installed (eng/setup.sh installs it)");
        byte[] input = new byte[100_000];
        new Random(7).NextBytes(input.AsSpan(0, 50_000));
        byte[] compressed = new byte[(int)LibZstd.CompressBound((nuint)input.Length)];
        nuint written;
        fixed (byte* s = input)
        fixed (byte* d = compressed)
        {
            written = LibZstd.Check(LibZstd.Compress(d, (nuint)compressed.Length, s, (nuint)input.Length, 3));
        }
        Assert.True((int)written < input.Length);
        byte[] output = new byte[input.Length];
        fixed (byte* s = compressed)
        fixed (byte* d = output)
        {
            Assert.Equal((nuint)input.Length, LibZstd.Check(LibZstd.Decompress(d, (nuint)output.Length, s, written)));
        }
        Assert.Equal(input, output);
    }

    [Fact]
    public void Corrupt_input_is_reported_in_zstds_words()
    {
        byte[] garbage = [1, 2, 3, 4, 5, 6, 7, 8];
        byte[] output = new byte[64];
        fixed (byte* s = garbage)
        fixed (byte* d = output)
        {
            nuint code = LibZstd.Decompress(d, 64, s, 8);
            var e = Assert.Throws<InvalidDataException>(() => LibZstd.Check(code));
            Assert.StartsWith("zstd: ", e.Message);
        }
    }
}
