using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Supermachine.Squashfs;

/// <summary>
/// Compresses data blocks on all cores and appends them to one stream in submission order, so the
/// layout never depends on thread timing. A bounded queue keeps memory flat: a producer faster
/// than the compressors waits, and the queue is deep enough (16 MiB of blocks) that a producer
/// pausing on a file of zeros or a slow directory does not starve the compressors. Actions queued between blocks (note the position, seek back over
/// a duplicate's blocks, copy bytes already compressed) run on the writer in the same order.
/// </summary>
internal sealed class BlockPipeline : IAsyncDisposable
{
    /// <summary>Called in submission order once a block is on the stream: its position and size word.</summary>
    public delegate void Placed(long position, uint sizeWord);

    private readonly record struct Pending(Task<(byte[]? Compressed, int Length)>? Work, byte[]? Raw, int RawLength, Placed? OnPlaced, Action<Stream>? InOrder);

    private readonly SquashfsCodec _codec;
    private readonly Stream _target;
    private readonly int _blockSize;
    private readonly int _bufferSize;
    private readonly ConcurrentBag<byte[]> _freeBlocks = [];
    private readonly ConcurrentBag<byte[]> _freeOutputs = [];
    private readonly Channel<Pending> _queue;
    private readonly Task _writer;
    private readonly BlockingCollection<(byte[] Raw, int Length, TaskCompletionSource<(byte[]?, int)> Done)> _work = [];
    private readonly Thread[] _compressors;

    public BlockPipeline(SquashfsCodec codec, Stream target, int blockSize, int parallelism)
    {
        _codec = codec;
        _target = target;
        _blockSize = blockSize;
        _bufferSize = SquashfsCodec.Bound(blockSize);
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(Math.Max(Math.Max(1, parallelism) * 4, (16 << 20) / blockSize))
        {
            SingleReader = true,
            SingleWriter = true,
        });
        // Dedicated threads rather than thread-pool tasks: the producer's own continuations run on
        // the pool, and queueing them behind long compressions would serialise reading with compressing.
        _compressors = new Thread[Math.Max(1, parallelism)];
        for (int i = 0; i < _compressors.Length; i++)
        {
            _compressors[i] = new Thread(Compress) { IsBackground = true, Name = "squashfs compressor" };
            _compressors[i].Start();
        }
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>
    /// Buffers handed to <see cref="SubmitAsync"/> come from here and go back once written. The
    /// pipeline's own pool: as many buffers as the queue holds, reused instead of churning the
    /// large-object heap (a block is larger than 85 000 bytes).
    /// </summary>
    public byte[] RentBlock() => _freeBlocks.TryTake(out byte[]? block) ? block : new byte[_blockSize];

    /// <summary>Gives back a buffer from <see cref="RentBlock"/> that was not submitted.</summary>
    public void ReturnBlock(byte[] block) => _freeBlocks.Add(block);

    /// <summary>
    /// Queues <paramref name="raw"/>[0..length) for compression; the pipeline owns the buffer from now on.
    /// </summary>
    public async ValueTask SubmitAsync(byte[] raw, int length, Placed onPlaced, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<(byte[]?, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await EnqueueAsync(new Pending(done.Task, raw, length, onPlaced, null), cancellationToken).ConfigureAwait(false);
        _work.Add((raw, length, done), CancellationToken.None);
    }

    /// <summary>Queues <paramref name="action"/> to run on the target stream once everything queued before it is written.</summary>
    public ValueTask EnqueueAsync(Action<Stream> action, CancellationToken cancellationToken) =>
        EnqueueAsync(new Pending(null, null, 0, null, action), cancellationToken);

    private async ValueTask EnqueueAsync(Pending pending, CancellationToken cancellationToken)
    {
        try
        {
            await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
        }
    }

    private void Compress()
    {
        foreach (var (raw, length, done) in _work.GetConsumingEnumerable())
        {
            try
            {
                byte[] output = _freeOutputs.TryTake(out byte[]? free) ? free : new byte[_bufferSize];
                int n = _codec.Compress(raw.AsSpan(0, length), output);
                if (n < 0)
                {
                    _freeOutputs.Add(output);
                    done.SetResult((null, length));
                }
                else
                {
                    done.SetResult((output, n));
                }
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }
    }

    /// <summary>Waits until every submitted block is on the stream; rethrows the first failure.</summary>
    public async Task CompleteAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _work.CompleteAdding();
        try
        {
            await _writer.ConfigureAwait(false);
        }
        catch
        {
            // The failure was already reported by CompleteAsync or SubmitAsync.
        }
        foreach (Thread t in _compressors)
        {
            t.Join();
        }
        _work.Dispose();
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            await foreach (Pending p in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                if (p.InOrder is not null)
                {
                    p.InOrder(_target);
                    continue;
                }
                (byte[]? compressed, int n) = await p.Work!.ConfigureAwait(false);
                long position = _target.Position;
                if (compressed is null)
                {
                    _target.Write(p.Raw!, 0, p.RawLength);
                    p.OnPlaced!(position, (uint)p.RawLength | SquashfsFormat.DataUncompressedBit);
                }
                else
                {
                    _target.Write(compressed, 0, n);
                    _freeOutputs.Add(compressed);
                    p.OnPlaced!(position, (uint)n);
                }
                _freeBlocks.Add(p.Raw!);
            }
        }
        catch (Exception e)
        {
            _queue.Writer.TryComplete(e);
            // Let queued work finish so no task is left unobserved.
            while (_queue.Reader.TryRead(out Pending rest))
            {
                if (rest.Work is not null)
                {
                    try { await rest.Work.ConfigureAwait(false); } catch { }
                }
            }
            throw;
        }
    }
}
