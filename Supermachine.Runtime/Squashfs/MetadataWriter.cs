using System.Buffers.Binary;

namespace Supermachine.Squashfs;

/// <summary>
/// Builds one metadata area (inode table, directory table, a lookup table): a byte stream cut into
/// 8 KiB pieces, each compressed on its own behind a 2-byte header. Positions are given the way the
/// kernel addresses them: the compressed start of a block relative to the area, plus an offset
/// into the block's uncompressed bytes.
/// </summary>
internal sealed class MetadataWriter(SquashfsCodec codec)
{
    private readonly byte[] _block = new byte[SquashfsFormat.MetadataBlockSize];
    private readonly byte[] _compressed = new byte[SquashfsCodec.Bound(SquashfsFormat.MetadataBlockSize)];
    private readonly List<long> _blockStarts = [];
    private int _used;

    /// <summary>The compressed bytes of the blocks finished so far.</summary>
    public MemoryStream Output { get; } = new();

    /// <summary>Where the block being filled will start, relative to the area.</summary>
    public long BlockStart => Output.Length;

    /// <summary>Offset of the next byte inside the block being filled.</summary>
    public int Offset => _used;

    /// <summary>Uncompressed bytes written so far.</summary>
    public long Position => (long)_blockStarts.Count * SquashfsFormat.MetadataBlockSize + _used;

    /// <summary>The relative start of the block holding uncompressed position <paramref name="position"/> (already written or current).</summary>
    public long BlockStartAt(long position)
    {
        long index = position / SquashfsFormat.MetadataBlockSize;
        return index < _blockStarts.Count ? _blockStarts[(int)index] : Output.Length;
    }

    /// <summary>The relative start of every finished block, in order (for lookup-table indexes).</summary>
    public IReadOnlyList<long> BlockStarts => _blockStarts;

    public void Write(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            int n = Math.Min(data.Length, _block.Length - _used);
            data[..n].CopyTo(_block.AsSpan(_used));
            _used += n;
            data = data[n..];
            if (_used == _block.Length)
            {
                Flush();
            }
        }
    }

    public void WriteUInt16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); Write(b); }

    public void WriteUInt32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); Write(b); }

    public void WriteUInt64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); Write(b); }

    /// <summary>Writes out the partly filled last block, if any.</summary>
    public void Finish()
    {
        if (_used > 0)
        {
            Flush();
        }
    }

    private void Flush()
    {
        _blockStarts.Add(Output.Length);
        int n = codec.Compress(_block.AsSpan(0, _used), _compressed);
        Span<byte> header = stackalloc byte[2];
        if (n < 0)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)(_used | SquashfsFormat.MetadataUncompressedBit));
            Output.Write(header);
            Output.Write(_block, 0, _used);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)n);
            Output.Write(header);
            Output.Write(_compressed, 0, n);
        }
        _used = 0;
    }
}
