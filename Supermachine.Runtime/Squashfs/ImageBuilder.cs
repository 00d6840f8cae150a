using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Squashfs;

/// <summary>
/// The state of one image being written: the tree received so far, content compressed straight
/// into the output file as it arrives, and at the end the metadata tables.
/// </summary>
/// <remarks>
/// Data and fragment blocks go to the output in arrival order, as mksquashfs writes them (a
/// duplicate's blocks are written over again, as there). When the arrival order turns out to be
/// the image's own order (depth first, names sorted: always for a sorted walk such as
/// <see cref="DirectoryTreeReader"/>) that is already the final layout. Otherwise (an OCI stream
/// with replaced files, any other order) the file written so far becomes a spool and the blocks
/// are laid out again in image order, with the same packing rule, so the bytes are the same.
/// </remarks>
internal sealed class ImageBuilder : IAsyncDisposable
{
    private readonly SquashfsWriterOptions _options;
    private readonly SquashfsCodec _codec;
    private readonly int _blockSize;
    private readonly string _outputPath;
    private readonly FileStream _output;
    private readonly FileStream _tails;
    private readonly BlockPipeline _data;
    private readonly FragmentPacker _fragments;
    private readonly List<FileContent> _arrived = [];
    private readonly IncrementalHash? _hash;
    private readonly byte[] _probe = new byte[1];
    private string? _spoolPath;
    private FileStream? _relaidOutput;
    private readonly TreeNode _root;
    private readonly List<TreeNode> _hardLinks = [];
    private readonly Dictionary<(long, UInt128), FileContent> _contents = [];
    private long _maxTime;
    private long _entries;
    private long _contentBytes;
    private long _lastProgress = Environment.TickCount64;

    public ImageBuilder(SquashfsWriterOptions options, string outputPath)
    {
        _options = options;
        _codec = SquashfsCodec.Create(options.Compression, options.CompressionLevel, options.BlockSize);
        _blockSize = options.BlockSize;
        _outputPath = outputPath;
        // FileShare.Delete: the re-layout renames this file while it is open.
        _output = new FileStream(outputPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Delete, 1 << 20);
        try
        {
            _output.Write(new byte[SquashfsFormat.SuperblockSize]);
            // The raw tails, only read by a re-layout; beside the output (same filesystem, never a RAM-backed /tmp), gone on close.
            _tails = new FileStream(outputPath + ".tails", FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20, FileOptions.DeleteOnClose);
        }
        catch
        {
            _output.Dispose();
            throw;
        }
        _data = new BlockPipeline(_codec, _output, _blockSize, options.MaxDegreeOfParallelism);
        _fragments = new FragmentPacker(_data, _blockSize);
        _hash = options.Deduplicate ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        _root = new TreeNode("") { Entry = ImplicitDirectory(""), Children = [] };
    }

    public async ValueTask DisposeAsync()
    {
        await _data.DisposeAsync().ConfigureAwait(false);
        _fragments.Abandon();
        await _output.DisposeAsync().ConfigureAwait(false);
        if (_relaidOutput is not null)
        {
            await _relaidOutput.DisposeAsync().ConfigureAwait(false);
        }
        await _tails.DisposeAsync().ConfigureAwait(false);
        _hash?.Dispose();
        if (_spoolPath is not null)
        {
            File.Delete(_spoolPath);
        }
    }

    private static FileSystemEntry ImplicitDirectory(string path) =>
        new() { Path = path, Type = FileSystemEntryType.Directory, Mode = 0x1ED /* 0755 */ };

    // ---------------------------------------------------------------- receiving entries

    public async ValueTask AddAsync(FileSystemEntry entry, CancellationToken cancellationToken)
    {
        string[] parts = SquashfsEntryRules.SplitPath(entry.Path);
        SquashfsEntryRules.CheckRepresentable(entry);
        _entries++;
        _maxTime = Math.Max(_maxTime, entry.ModificationTime);

        if (parts.Length == 0)
        {
            if (entry.Type != FileSystemEntryType.Directory)
            {
                throw Diagnostic.Error("SM2103", "/", $"the root must be a directory, not a {SquashfsEntryRules.Describe(entry.Type)}");
            }
            _root.Entry = entry;
            return;
        }

        TreeNode parent = _root;
        for (int i = 0; i < parts.Length - 1; i++)
        {
            if (!parent.Children!.TryGetValue(parts[i], out TreeNode? next))
            {
                string path = string.Join('/', parts, 0, i + 1);
                next = new TreeNode(parts[i]) { Entry = ImplicitDirectory(path), Children = [] };
                parent.Children.Add(parts[i], next);
            }
            else if (!next.IsDirectory)
            {
                throw Diagnostic.Error("SM2105", entry.Path, string.Join('/', parts, 0, i + 1), SquashfsEntryRules.Describe(next.Entry.Type));
            }
            parent = next;
        }

        string name = parts[^1];
        if (parent.Children!.TryGetValue(name, out TreeNode? existing) && existing.IsDirectory && entry.Type == FileSystemEntryType.Directory)
        {
            existing.Entry = entry;
            return;
        }

        var node = new TreeNode(name) { Entry = entry };
        switch (entry.Type)
        {
            case FileSystemEntryType.Directory:
                node.Children = [];
                break;
            case FileSystemEntryType.RegularFile:
                node.Content = await ReadContentAsync(entry, cancellationToken).ConfigureAwait(false);
                break;
            case FileSystemEntryType.HardLink:
                _hardLinks.Add(node);
                break;
        }
        parent.Children[name] = node;
        ReportProgress("reading", force: false);
    }

    private void ReportProgress(string phase, bool force)
    {
        if (_options.Progress is null)
        {
            return;
        }
        long now = Environment.TickCount64;
        if (force || now - _lastProgress >= 500)
        {
            _lastProgress = now;
            _options.Progress.Report(new SquashfsProgress(phase, _entries, _contentBytes));
        }
    }

    /// <summary>
    /// Reads a file's content now (the producer may be a tar stream that moves on), sending whole
    /// blocks to the compressors and keeping the tail raw for fragment packing at the end.
    /// </summary>
    private async ValueTask<FileContent> ReadContentAsync(FileSystemEntry entry, CancellationToken cancellationToken)
    {
        if (entry.OpenContent is null)
        {
            if (entry.Size == 0)
            {
                return new FileContent();
            }
            throw Diagnostic.Error("SM2107", entry.Path, $"it declares {entry.Size} bytes but has no content to open");
        }

        var content = new FileContent { Size = entry.Size };
        long declaredBlocks = (entry.Size + _blockSize - 1) / _blockSize;
        content.Blocks = new uint[declaredBlocks];
        IncrementalHash? hash = _hash;
        byte[]? tail = null;
        int tailLength = 0;
        long total = 0;
        int index = 0;
        bool marked = false;
        Stream stream;
        try
        {
            stream = entry.OpenContent();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Diagnostic.Error(e, "SM2107", entry.Path, e.Message);
        }
        await using (stream.ConfigureAwait(false))
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                byte[] buffer = _data.RentBlock();
                int n;
                try
                {
                    // Synchronous on purpose: an async read of a plain FileStream is a thread-pool work
                    // item that queues behind the compressors, which serialises reading with compression.
                    // No more than the declared size: a small file is one read, then the probe below.
                    int want = total < entry.Size ? (int)Math.Min(_blockSize, entry.Size - total) : _blockSize;
                    n = stream.ReadAtLeast(buffer.AsSpan(0, want), want, throwOnEndOfStream: false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _data.ReturnBlock(buffer);
                    throw Diagnostic.Error(e, "SM2107", entry.Path, e.Message);
                }
                if (n == 0)
                {
                    _data.ReturnBlock(buffer);
                    break;
                }
                total += n;
                if (total > entry.Size)
                {
                    _data.ReturnBlock(buffer);
                    throw Diagnostic.Error("SM2107", entry.Path, $"it declares {entry.Size} bytes but its content is longer");
                }
                if (total == entry.Size && stream.Read(_probe) > 0)
                {
                    // Declared size reached but the stream has more.
                    _data.ReturnBlock(buffer);
                    throw Diagnostic.Error("SM2107", entry.Path, $"it declares {entry.Size} bytes but its content is longer");
                }
                hash?.AppendData(buffer, 0, n);
                _contentBytes += n;

                bool last = n < _blockSize || total == entry.Size;
                bool toFragment = last && n < _blockSize && (index == 0 || _options.AlwaysUseFragments);
                if (toFragment)
                {
                    tail = buffer;
                    tailLength = n;
                    break;
                }
                if (!marked)
                {
                    // Where this content's blocks begin (also where a duplicate's blocks are undone from).
                    marked = true;
                    await _data.EnqueueAsync(s => content.SpoolStart = s.Position, cancellationToken).ConfigureAwait(false);
                }
                if (buffer.AsSpan(0, n).IndexOfAnyExcept((byte)0) < 0)
                {
                    content.Blocks[index++] = 0;
                    content.SparseBytes += n;
                    _data.ReturnBlock(buffer);
                }
                else
                {
                    int slot = index++;
                    await _data.SubmitAsync(buffer, n, (position, word) =>
                    {
                        content.SpoolLength += word & ~SquashfsFormat.DataUncompressedBit;
                        content.Blocks[slot] = word;
                    }, cancellationToken).ConfigureAwait(false);
                }
                if (last && total == entry.Size)
                {
                    break;
                }
            }
        }

        if (total != entry.Size)
        {
            if (tail is not null)
            {
                _data.ReturnBlock(tail);
            }
            throw Diagnostic.Error("SM2107", entry.Path, $"it declares {entry.Size} bytes but its content has {total}");
        }
        if (index != content.Blocks.Length)
        {
            Array.Resize(ref content.Blocks, index);
        }

        if (hash is not null && total > 0)
        {
            Span<byte> digest = stackalloc byte[32];
            hash.GetHashAndReset(digest);
            var key = (total, BinaryPrimitives.ReadUInt128LittleEndian(digest));
            if (_contents.TryGetValue(key, out FileContent? same))
            {
                if (tail is not null)
                {
                    _data.ReturnBlock(tail);
                }
                if (marked)
                {
                    // Nothing was queued after this copy's blocks: the next blocks go over them.
                    await _data.EnqueueAsync(s => s.Position = content.SpoolStart, cancellationToken).ConfigureAwait(false);
                }
                return same;
            }
            _contents.Add(key, content);
        }
        if (content.Blocks.Length > 0 || tail is not null)
        {
            _arrived.Add(content);
        }
        if (tail is not null)
        {
            content.TailSpoolOffset = _tails.Position;
            content.TailLength = tailLength;
            _tails.Write(tail, 0, tailLength);
            try
            {
                (content.Fragment, content.FragmentOffset) = await _fragments.AddAsync(tail.AsMemory(0, tailLength), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _data.ReturnBlock(tail);
            }
        }
        return content;
    }

    // ---------------------------------------------------------------- laying out the image

    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        await _fragments.FlushAsync(cancellationToken).ConfigureAwait(false);
        await _data.CompleteAsync().ConfigureAwait(false);
        ResolveHardLinks();
        ReportProgress("writing", force: true);

        List<FileContent> imageOrder = ContentsInImageOrder();
        FileStream output;
        List<(long Start, uint Word)> fragments;
        if (imageOrder.SequenceEqual(_arrived, ReferenceEqualityComparer.Instance))
        {
            foreach (FileContent c in imageOrder)
            {
                c.Start = c.SpoolStart;
            }
            output = _output;
            fragments = _fragments.Table;
        }
        else
        {
            (output, fragments) = await RelayAsync(imageOrder, cancellationToken).ConfigureAwait(false);
        }

        var layout = new MetadataLayout(_options, _codec, _root, _maxTime);
        layout.Write(output, fragments, cancellationToken);
        ReportProgress("done", force: true);
    }

    private void ResolveHardLinks()
    {
        foreach (TreeNode link in _hardLinks)
        {
            if (!ReferenceEquals(Find(link.Entry.Path), link))
            {
                continue; // replaced by a later entry
            }
            TreeNode? target = Find(link.Entry.LinkTarget!.Trim('/'));
            for (int hops = 0; target?.Entry.Type == FileSystemEntryType.HardLink; hops++)
            {
                target = hops > _hardLinks.Count ? null : Find(target.Entry.LinkTarget!.Trim('/'));
            }
            if (target is null)
            {
                throw Diagnostic.Error("SM2104", link.Entry.Path, link.Entry.LinkTarget, "which is not in the input");
            }
            if (target.IsDirectory)
            {
                throw Diagnostic.Error("SM2104", link.Entry.Path, link.Entry.LinkTarget, "which is a directory");
            }
            link.Inode = target;
            target.LinkCount++;
        }
    }

    private TreeNode? Find(string path)
    {
        TreeNode node = _root;
        if (path.Length == 0)
        {
            return node;
        }
        foreach (string part in path.Split('/'))
        {
            if (node.Children is null || !node.Children.TryGetValue(part, out TreeNode? next))
            {
                return null;
            }
            node = next;
        }
        return node;
    }

    /// <summary>
    /// The contents that have blocks or a tail, each once, in the order the image lays them out:
    /// regular files (their own inode, not links) depth first, sorted, as mksquashfs reads them.
    /// </summary>
    private List<FileContent> ContentsInImageOrder()
    {
        var order = new List<FileContent>(_arrived.Count);
        var seen = new HashSet<FileContent>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(TreeNode Dir, int Index)>();
        stack.Push((_root, 0));
        while (stack.Count > 0)
        {
            (TreeNode dir, int i) = stack.Pop();
            List<TreeNode> children = dir.Sorted();
            for (; i < children.Count; i++)
            {
                TreeNode child = children[i];
                if (child.Entry.Type == FileSystemEntryType.RegularFile)
                {
                    FileContent c = child.Content!;
                    if ((c.Blocks.Length > 0 || c.TailLength > 0) && seen.Add(c))
                    {
                        order.Add(c);
                    }
                }
                else if (child.IsDirectory)
                {
                    stack.Push((dir, i + 1));
                    stack.Push((child, 0));
                    break;
                }
            }
        }
        return order;
    }

    /// <summary>
    /// Lays the blocks out again in image order into a new file at the output path: the file
    /// written so far becomes the spool its compressed data blocks are copied from, and the tails
    /// are packed again by the same rule as while streaming.
    /// </summary>
    private async Task<(FileStream, List<(long Start, uint Word)>)> RelayAsync(List<FileContent> contents, CancellationToken cancellationToken)
    {
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        await _tails.FlushAsync(cancellationToken).ConfigureAwait(false);
        _spoolPath = _outputPath + ".spool";
        File.Move(_outputPath, _spoolPath);
        _relaidOutput = new FileStream(_outputPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        _relaidOutput.Write(new byte[SquashfsFormat.SuperblockSize]);

        await using var pipeline = new BlockPipeline(_codec, _relaidOutput, _blockSize, _options.MaxDegreeOfParallelism);
        var packer = new FragmentPacker(pipeline, _blockSize);
        try
        {
            foreach (FileContent c in contents)
            {
                if (c.Blocks.Length > 0)
                {
                    long from = c.SpoolStart, length = c.SpoolLength;
                    await pipeline.EnqueueAsync(s =>
                    {
                        c.Start = s.Position;
                        CopyRange(_output, from, length, s, cancellationToken);
                    }, cancellationToken).ConfigureAwait(false);
                }
                if (c.TailLength > 0)
                {
                    byte[] tail = ArrayPool<byte>.Shared.Rent(c.TailLength);
                    try
                    {
                        if (RandomAccess.Read(_tails.SafeFileHandle, tail.AsSpan(0, c.TailLength), c.TailSpoolOffset) != c.TailLength)
                        {
                            throw new IOException("the tail spool ended early");
                        }
                        (c.Fragment, c.FragmentOffset) = await packer.AddAsync(tail.AsMemory(0, c.TailLength), cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(tail);
                    }
                }
            }
            await packer.FlushAsync(cancellationToken).ConfigureAwait(false);
            await pipeline.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            packer.Abandon();
        }
        return (_relaidOutput, packer.Table);
    }

    private static void CopyRange(FileStream from, long start, long length, Stream output, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            while (length > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = RandomAccess.Read(from.SafeFileHandle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, length)), start);
                if (n <= 0)
                {
                    throw new IOException("a spool file ended early");
                }
                output.Write(buffer, 0, n);
                start += n;
                length -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
