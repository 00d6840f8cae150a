namespace Supermachine.Squashfs;

/// <summary>
/// Packs file tails into fragment blocks in the order they are given and sends each full block to
/// a <see cref="BlockPipeline"/>, so fragments land between the data blocks exactly where the
/// packing closed them. The streaming pass and the re-layout share this one rule, which is what
/// makes their bytes equal.
/// </summary>
internal sealed class FragmentPacker(BlockPipeline pipeline, int blockSize)
{
    private byte[]? _current;
    private int _used;

    /// <summary>Position and size word of every fragment block, by index (filled in as they are written).</summary>
    public List<(long Start, uint Word)> Table { get; } = [];

    /// <summary>Adds a tail; returns its fragment index and offset.</summary>
    public async ValueTask<(uint Fragment, uint Offset)> AddAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
    {
        if (_current is not null && _used + tail.Length > blockSize)
        {
            await FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        _current ??= pipeline.RentBlock();
        var place = ((uint)Table.Count, (uint)_used);
        tail.Span.CopyTo(_current.AsSpan(_used));
        _used += tail.Length;
        return place;
    }

    /// <summary>Sends the block being filled, if any.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_current is null)
        {
            return;
        }
        int slot = Table.Count;
        Table.Add(default);
        byte[] block = _current;
        int used = _used;
        _current = null;
        _used = 0;
        await pipeline.SubmitAsync(block, used, (position, word) => Table[slot] = (position, word), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Drops the block being filled (after a failure).</summary>
    public void Abandon() => _current = null;
}
