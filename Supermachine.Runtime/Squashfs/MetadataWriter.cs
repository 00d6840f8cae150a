using System.Buffers.Binary;

namespace Supermachine.Squashfs;

/// <summary>
/// Builds one metadata area (inode table, directory table, a lookup table): a byte stream cut into
/// 8 KiB pieces, each compressed on its own behind a 2-byte header. The kernel addresses a byte
/// by the compressed start of its block relative to the area plus an offset into the block's
/// uncompressed bytes.
/// </summary>
/// <remarks>
/// Compressed starts are only known once the blocks before are compressed, so the writer keeps
/// the uncompressed blocks and takes references to them as <em>patches</em>: a field that will
/// hold the compressed start of block i of some area (<see cref="WriteStartOf"/>), or a full
/// reference (start &lt;&lt; 16 | offset, <see cref="WriteReferenceTo"/>). <see cref="CompressAll"/>
/// then compresses the blocks of several areas on all cores and fills the patches in, each block
/// once the starts it refers to are known. A reference always points to a block that was written
/// or being written when it was taken, so following the order blocks were closed in never waits
/// on a block not yet taken.
/// </remarks>
internal sealed class MetadataWriter
{
    private const int Size = SquashfsFormat.MetadataBlockSize;

    private readonly SquashfsCodec _codec;
    private readonly List<byte[]> _blocks = [];
    private readonly List<Patch> _patches = [];
    private readonly List<(MetadataWriter Writer, int Block)>? _closed;
    private byte[] _block = new byte[Size];
    private int _used;
    private byte[][]? _compressed;
    private long[]? _starts;
    private int _known;

    private readonly record struct Patch(long Position, MetadataWriter Target, int Block, int Offset, bool Reference);

    /// <param name="closed">Where areas compressed together note each block as it closes (see <see cref="CompressAll"/>); null for an area on its own.</param>
    public MetadataWriter(SquashfsCodec codec, List<(MetadataWriter Writer, int Block)>? closed = null)
    {
        _codec = codec;
        _closed = closed;
    }

    /// <summary>Index of the block being filled.</summary>
    public int Block => _blocks.Count;

    /// <summary>Offset of the next byte inside the block being filled.</summary>
    public int Offset => _used;

    /// <summary>Uncompressed bytes written so far.</summary>
    public long Position => (long)_blocks.Count * Size + _used;

    /// <summary>The compressed start of block <paramref name="index"/> relative to the area (after <see cref="CompressAll"/>).</summary>
    public long StartOf(int index) => _starts![index];

    /// <summary>The compressed start of every block, in order (after <see cref="CompressAll"/>; for lookup-table indexes).</summary>
    public IReadOnlyList<long> BlockStarts => _starts.AsSpan(0, _blocks.Count).ToArray();

    /// <summary>A reference as the kernel reads it (after <see cref="CompressAll"/>).</summary>
    public ulong Reference(int block, int offset) => SquashfsFormat.InodeRef(_starts![block], offset);

    public void Write(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            int n = Math.Min(data.Length, Size - _used);
            data[..n].CopyTo(_block.AsSpan(_used));
            _used += n;
            data = data[n..];
            if (_used == Size)
            {
                Close();
            }
        }
    }

    public void WriteUInt16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); Write(b); }

    public void WriteUInt32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); Write(b); }

    public void WriteUInt64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); Write(b); }

    /// <summary>Notes that the 4 bytes at <paramref name="position"/> (already written) hold the compressed start of <paramref name="target"/>'s block <paramref name="block"/>.</summary>
    public void WriteStartOf(long position, MetadataWriter target, int block) => _patches.Add(new Patch(position, target, block, 0, Reference: false));

    /// <summary>Notes that the 8 bytes at <paramref name="position"/> (already written) hold a reference to <paramref name="target"/>'s block and offset.</summary>
    public void WriteReferenceTo(long position, MetadataWriter target, int block, int offset) => _patches.Add(new Patch(position, target, block, offset, Reference: true));

    /// <summary>Closes the partly filled last block, if any.</summary>
    public void Finish()
    {
        if (_used > 0)
        {
            Close();
        }
    }

    private void Close()
    {
        _blocks.Add(_used == Size ? _block : _block.AsSpan(0, _used).ToArray());
        _closed?.Add((this, _blocks.Count - 1));
        _block = new byte[Size];
        _used = 0;
    }

    /// <summary>The compressed area: every block behind its header (after <see cref="CompressAll"/>).</summary>
    public void WriteTo(Stream output)
    {
        foreach (byte[] block in _compressed!)
        {
            output.Write(block);
        }
    }

    /// <summary>Compresses one area that refers to no other (its blocks in any order).</summary>
    public void CompressAll(int parallelism)
    {
        var order = new List<(MetadataWriter, int)>(_blocks.Count);
        for (int i = 0; i < _blocks.Count; i++)
        {
            order.Add((this, i));
        }
        CompressAll([this], order, parallelism);
    }

    /// <summary>
    /// Compresses <paramref name="writers"/> (finished), which may refer to each other, block by
    /// block in <paramref name="closed"/> order on <paramref name="parallelism"/> threads.
    /// </summary>
    public static void CompressAll(IReadOnlyList<MetadataWriter> writers, List<(MetadataWriter Writer, int Block)> closed, int parallelism)
    {
        var schedule = new Schedule();
        foreach (MetadataWriter w in writers)
        {
            w._compressed = new byte[w._blocks.Count][];
            w._starts = new long[w._blocks.Count + 1];
            w._known = 0;
        }
        int next = -1;

        void Work()
        {
            try
            {
                for (int i = Interlocked.Increment(ref next); i < closed.Count; i = Interlocked.Increment(ref next))
                {
                    (MetadataWriter w, int block) = closed[i];
                    w.CompressBlock(block, schedule);
                }
            }
            catch (Exception e)
            {
                lock (schedule)
                {
                    schedule.Failure ??= e;
                    Monitor.PulseAll(schedule);
                }
            }
        }

        int threads = Math.Clamp(parallelism, 1, Math.Max(1, closed.Count / 8));
        var helpers = new Thread[threads - 1];
        for (int t = 0; t < helpers.Length; t++)
        {
            helpers[t] = new Thread(Work) { IsBackground = true, Name = "squashfs metadata" };
            helpers[t].Start();
        }
        Work();
        foreach (Thread t in helpers)
        {
            t.Join();
        }
        if (schedule.Failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(schedule.Failure);
        }
    }

    /// <summary>The lock of one <see cref="CompressAll"/> and its first failure (which stops the others).</summary>
    private sealed class Schedule
    {
        public Exception? Failure;
    }

    private void CompressBlock(int index, Schedule gate)
    {
        byte[] raw = _blocks[index];
        long from = (long)index * Size;
        // Patches are in position order; a field may straddle into this block from the one before.
        int p = LowerBound(from - 7);
        Span<byte> value = stackalloc byte[8];
        for (; p < _patches.Count && _patches[p].Position < from + raw.Length; p++)
        {
            Patch patch = _patches[p];
            int length = patch.Reference ? 8 : 4;
            if (patch.Position + length <= from)
            {
                continue;
            }
            long start = patch.Target.WaitForStart(patch.Block, gate);
            if (patch.Reference)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(value, SquashfsFormat.InodeRef(start, patch.Offset));
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(value, (uint)start);
            }
            for (int k = 0; k < length; k++)
            {
                long at = patch.Position + k - from;
                if (at >= 0 && at < raw.Length)
                {
                    raw[at] = value[k];
                }
            }
        }

        byte[] compressed = new byte[SquashfsCodec.Bound(Size) + 2];
        int n = _codec.Compress(raw, compressed);
        byte[] stored;
        if (n < 0)
        {
            stored = new byte[raw.Length + 2];
            BinaryPrimitives.WriteUInt16LittleEndian(stored, (ushort)(raw.Length | SquashfsFormat.MetadataUncompressedBit));
            raw.CopyTo(stored, 2);
        }
        else
        {
            stored = new byte[n + 2];
            BinaryPrimitives.WriteUInt16LittleEndian(stored, (ushort)n);
            compressed.AsSpan(0, n).CopyTo(stored.AsSpan(2));
        }
        lock (gate)
        {
            _compressed![index] = stored;
            while (_known < _compressed.Length && _compressed[_known] is { } done)
            {
                _starts![_known + 1] = _starts[_known] + done.Length;
                _known++;
            }
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>The compressed start of block <paramref name="index"/>, once every block before it is compressed.</summary>
    private long WaitForStart(int index, Schedule gate)
    {
        lock (gate)
        {
            while (_known < index)
            {
                if (gate.Failure is not null)
                {
                    throw new OperationCanceledException("another metadata block failed");
                }
                Monitor.Wait(gate);
            }
            return _starts![index];
        }
    }

    private int LowerBound(long position)
    {
        int lo = 0, hi = _patches.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_patches[mid].Position < position)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }
}
