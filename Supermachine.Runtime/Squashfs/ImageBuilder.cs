using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
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
        string[] parts = SplitPath(entry.Path);
        CheckRepresentable(entry);
        _entries++;
        _maxTime = Math.Max(_maxTime, entry.ModificationTime);

        if (parts.Length == 0)
        {
            if (entry.Type != FileSystemEntryType.Directory)
            {
                throw Errors.UnrepresentableEntry("/", $"the root must be a directory, not a {Describe(entry.Type)}");
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
                throw Errors.ParentNotADirectory(entry.Path, string.Join('/', parts, 0, i + 1), Describe(next.Entry.Type));
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

    private static string[] SplitPath(string path)
    {
        if (path is null)
        {
            throw Errors.InvalidSquashfsPath("(null)", "the path is missing");
        }
        if (path.Length == 0)
        {
            return [];
        }
        if (path.Contains('\0'))
        {
            throw Errors.InvalidSquashfsPath(path.Replace("\0", "\\0"), "it contains a NUL character");
        }
        string[] parts = path.Split('/');
        foreach (string part in parts)
        {
            if (part.Length == 0 || part is "." or "..")
            {
                throw Errors.InvalidSquashfsPath(path, part.Length == 0 ? "it has an empty component (leading, trailing or double '/')" : $"it has a '{part}' component");
            }
            int bytes = Encoding.UTF8.GetByteCount(part);
            if (bytes > SquashfsFormat.MaxNameLength)
            {
                throw Errors.NameTooLong(part, bytes);
            }
        }
        return parts;
    }

    private static void CheckRepresentable(FileSystemEntry e)
    {
        string path = e.Path.Length == 0 ? "/" : e.Path;
        if (e.ModificationTime is < 0 or > uint.MaxValue)
        {
            throw Errors.UnrepresentableEntry(path, $"its mtime {e.ModificationTime} is outside 1970..2106 (squashfs stores 32-bit unsigned seconds)");
        }
        if (e.Mode is < 0 or > 0xFFF)
        {
            throw Errors.UnrepresentableEntry(path, $"its mode {Convert.ToString(e.Mode, 8)} has bits beyond 07777");
        }
        if (e.Uid < 0 || e.Gid < 0)
        {
            throw Errors.UnrepresentableEntry(path, $"its owner {e.Uid}:{e.Gid} is negative");
        }
        switch (e.Type)
        {
            case FileSystemEntryType.CharacterDevice or FileSystemEntryType.BlockDevice:
                if (e.DeviceMajor is < 0 or > 0xFFF || e.DeviceMinor is < 0 or > 0xFFFFF)
                {
                    throw Errors.UnrepresentableEntry(path, $"device {e.DeviceMajor}:{e.DeviceMinor} needs more than 12 bits of major or 20 of minor");
                }
                break;
            case FileSystemEntryType.Symlink:
                if (string.IsNullOrEmpty(e.LinkTarget))
                {
                    throw Errors.UnrepresentableEntry(path, "it is a symlink without a target");
                }
                break;
            case FileSystemEntryType.HardLink:
                if (string.IsNullOrEmpty(e.LinkTarget))
                {
                    throw Errors.UnrepresentableEntry(path, "it is a hard link without a target");
                }
                break;
            case FileSystemEntryType.RegularFile:
                if (e.Size < 0)
                {
                    throw Errors.UnrepresentableEntry(path, $"its size {e.Size} is negative");
                }
                break;
        }
        foreach (string name in e.ExtendedAttributes.Keys)
        {
            int type = XattrType(name);
            if (type < 0)
            {
                throw Errors.UnrepresentableEntry(path, $"its extended attribute '{name}' is not in a namespace squashfs stores (user., trusted., security.)");
            }
            if (Encoding.UTF8.GetByteCount(name) - SquashfsFormat.XattrPrefixes[type].Length > ushort.MaxValue)
            {
                throw Errors.UnrepresentableEntry(path, $"its extended attribute name '{name}' is too long");
            }
        }
    }

    private static int XattrType(string name)
    {
        for (int i = 0; i < SquashfsFormat.XattrPrefixes.Length; i++)
        {
            if (name.StartsWith(SquashfsFormat.XattrPrefixes[i], StringComparison.Ordinal) && name.Length > SquashfsFormat.XattrPrefixes[i].Length)
            {
                return i;
            }
        }
        return -1;
    }

    private static string Describe(FileSystemEntryType type) => type switch
    {
        FileSystemEntryType.RegularFile => "regular file",
        FileSystemEntryType.HardLink => "hard link",
        FileSystemEntryType.CharacterDevice => "character device",
        FileSystemEntryType.BlockDevice => "block device",
        _ => type.ToString().ToLowerInvariant(),
    };

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
            throw Errors.EntryContentUnreadable(entry.Path, $"it declares {entry.Size} bytes but has no content to open");
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
            throw Errors.EntryContentUnreadable(entry.Path, e.Message, cause: e);
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
                    throw Errors.EntryContentUnreadable(entry.Path, e.Message, cause: e);
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
                    throw Errors.EntryContentUnreadable(entry.Path, $"it declares {entry.Size} bytes but its content is longer");
                }
                if (total == entry.Size && stream.Read(_probe) > 0)
                {
                    // Declared size reached but the stream has more.
                    _data.ReturnBlock(buffer);
                    throw Errors.EntryContentUnreadable(entry.Path, $"it declares {entry.Size} bytes but its content is longer");
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
            throw Errors.EntryContentUnreadable(entry.Path, $"it declares {entry.Size} bytes but its content has {total}");
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

        var layout = new MetadataLayout(this);
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
                throw Errors.InvalidHardLink(link.Entry.Path, link.Entry.LinkTarget, "which is not in the input");
            }
            if (target.IsDirectory)
            {
                throw Errors.InvalidHardLink(link.Entry.Path, link.Entry.LinkTarget, "which is a directory");
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

    // ---------------------------------------------------------------- metadata

    /// <summary>Inode and directory tables, then the lookup tables and the superblock.</summary>
    private sealed class MetadataLayout(ImageBuilder image)
    {
        // The inode and directory tables refer to each other: compressed together, in the order their blocks closed.
        private readonly List<(MetadataWriter Writer, int Block)> _closed = [];
        private MetadataWriter _inodes = null!;
        private MetadataWriter _directories = null!;
        private readonly List<int> _scratchPatches = [];
        private readonly Dictionary<uint, ushort> _idIndex = [];
        private readonly List<uint> _ids = [];
        private readonly Dictionary<string, uint> _xattrIndex = new(StringComparer.Ordinal);
        private readonly List<(byte[] Bytes, int Count)> _xattrSets = [];
        private readonly List<(int Block, int Offset)> _inodeRefs = [];
        private readonly MemoryStream _scratch = new();
        private uint _nextInode = 1;

        public void Write(FileStream output, List<(long Start, uint Word)> fragments, CancellationToken cancellationToken)
        {
            _inodes = new MetadataWriter(image._codec, _closed);
            _directories = new MetadataWriter(image._codec, _closed);
            NumberInodes(image._root);
            CollectIds(image._root);
            uint inodeCount = _nextInode - 1;
            _inodeRefs.AddRange(new (int, int)[inodeCount]);
            WriteDirectory(image._root, inodeCount + 1, cancellationToken);
            _inodes.Finish();
            _directories.Finish();
            cancellationToken.ThrowIfCancellationRequested();
            MetadataWriter.CompressAll([_inodes, _directories], _closed, image._options.MaxDegreeOfParallelism);
            ulong rootRef = _inodes.Reference(image._root.InodeBlock, image._root.InodeOffset);

            var sb = new Superblock
            {
                InodeCount = inodeCount,
                ModificationTime = (uint)(image._options.ModificationTime ?? image._maxTime),
                BlockSize = (uint)image._blockSize,
                FragmentCount = (uint)fragments.Count,
                Compression = image._codec.Id,
                BlockLog = (ushort)System.Numerics.BitOperations.Log2((uint)image._blockSize),
                IdCount = (ushort)_ids.Count,
                VersionMajor = 4,
                VersionMinor = 0,
                RootInode = rootRef,
                XattrIdTableStart = SquashfsFormat.NoTable,
                ExportTableStart = SquashfsFormat.NoTable,
            };
            sb.Flags = SquashfsFormat.Exportable;
            if (image._options.Deduplicate)
            {
                sb.Flags |= SquashfsFormat.Duplicates;
            }
            if (image._options.Compression == SquashfsCompression.None)
            {
                sb.Flags |= SquashfsFormat.UncompressedInodes | SquashfsFormat.UncompressedData | SquashfsFormat.UncompressedFragments
                    | SquashfsFormat.UncompressedXattrs | SquashfsFormat.UncompressedIds;
            }
            if (_xattrSets.Count == 0)
            {
                sb.Flags |= SquashfsFormat.NoXattrs;
            }

            // The kernel insists on this order: inodes, directories, fragments, export, ids, xattrs.
            sb.InodeTableStart = (ulong)output.Position;
            _inodes.WriteTo(output);
            sb.DirectoryTableStart = (ulong)output.Position;
            _directories.WriteTo(output);

            sb.FragmentTableStart = (ulong)WriteTable(output, w =>
            {
                foreach ((long start, uint word) in fragments)
                {
                    w.WriteUInt64((ulong)start);
                    w.WriteUInt32(word);
                    w.WriteUInt32(0);
                }
            });
            sb.ExportTableStart = (ulong)WriteTable(output, w =>
            {
                foreach ((int block, int offset) in _inodeRefs)
                {
                    w.WriteUInt64(_inodes.Reference(block, offset));
                }
            });
            sb.IdTableStart = (ulong)WriteTable(output, w =>
            {
                foreach (uint id in _ids)
                {
                    w.WriteUInt32(id);
                }
            });
            if (_xattrSets.Count > 0)
            {
                sb.XattrIdTableStart = (ulong)WriteXattrs(output);
            }

            sb.BytesUsed = (ulong)output.Position;
            long padded = (output.Position + SquashfsFormat.ImagePadding - 1) / SquashfsFormat.ImagePadding * SquashfsFormat.ImagePadding;
            output.Write(new byte[padded - output.Position]);
            Span<byte> superblock = stackalloc byte[SquashfsFormat.SuperblockSize];
            sb.Write(superblock);
            // A duplicate undone at the very end may have left bytes beyond the image.
            output.SetLength(padded);
            output.Position = 0;
            output.Write(superblock);
            output.Flush(flushToDisk: false);
        }

        /// <summary>Metadata blocks of the entries, then the index of their absolute positions; returns the index's position.</summary>
        private long WriteTable(FileStream output, Action<MetadataWriter> fill)
        {
            var w = new MetadataWriter(image._codec);
            fill(w);
            w.Finish();
            w.CompressAll(image._options.MaxDegreeOfParallelism);
            long start = output.Position;
            w.WriteTo(output);
            long index = output.Position;
            Span<byte> b = stackalloc byte[8];
            foreach (long block in w.BlockStarts)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)(start + block));
                output.Write(b);
            }
            return index;
        }

        private long WriteXattrs(FileStream output)
        {
            var kv = new MetadataWriter(image._codec);
            var refs = new List<(int Block, int Offset)>();
            foreach ((byte[] bytes, _) in _xattrSets)
            {
                refs.Add((kv.Block, kv.Offset));
                kv.Write(bytes);
            }
            kv.Finish();
            kv.CompressAll(image._options.MaxDegreeOfParallelism);
            long kvStart = output.Position;
            kv.WriteTo(output);

            var ids = new MetadataWriter(image._codec);
            for (int i = 0; i < _xattrSets.Count; i++)
            {
                ids.WriteUInt64(kv.Reference(refs[i].Block, refs[i].Offset));
                ids.WriteUInt32((uint)_xattrSets[i].Count);
                ids.WriteUInt32((uint)_xattrSets[i].Bytes.Length);
            }
            ids.Finish();
            ids.CompressAll(image._options.MaxDegreeOfParallelism);
            long idsStart = output.Position;
            ids.WriteTo(output);

            long header = output.Position;
            Span<byte> b = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)kvStart);
            BinaryPrimitives.WriteUInt32LittleEndian(b[8..], (uint)_xattrSets.Count);
            BinaryPrimitives.WriteUInt32LittleEndian(b[12..], 0);
            output.Write(b);
            foreach (long block in ids.BlockStarts)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)(idsStart + block));
                output.Write(b[..8]);
            }
            return header;
        }

        /// <summary>Inode numbers in the order inodes are written: a directory's subdirectories, its other children, then itself.</summary>
        private void NumberInodes(TreeNode root)
        {
            var stack = new Stack<(TreeNode Dir, int Index)>();
            stack.Push((root, 0));
            while (stack.Count > 0)
            {
                (TreeNode dir, int i) = stack.Pop();
                List<TreeNode> children = dir.Sorted();
                bool descended = false;
                for (; i < children.Count; i++)
                {
                    if (children[i].IsDirectory)
                    {
                        stack.Push((dir, i + 1));
                        stack.Push((children[i], 0));
                        descended = true;
                        break;
                    }
                }
                if (descended)
                {
                    continue;
                }
                foreach (TreeNode child in children)
                {
                    TreeNode inode = child.Inode ?? child;
                    if (!inode.IsDirectory && inode.InodeNumber == 0)
                    {
                        inode.InodeNumber = _nextInode++;
                    }
                }
                dir.InodeNumber = _nextInode++;
            }
        }

        private void CollectIds(TreeNode root)
        {
            var all = new SortedSet<uint>();
            var stack = new Stack<TreeNode>();
            stack.Push(root);
            while (stack.Count > 0)
            {
                TreeNode node = stack.Pop();
                all.Add((uint)node.Entry.Uid);
                all.Add((uint)node.Entry.Gid);
                if (node.Children is not null)
                {
                    foreach (TreeNode child in node.Children.Values)
                    {
                        stack.Push(child);
                    }
                }
            }
            if (all.Count > SquashfsFormat.MaxIds)
            {
                throw Errors.UnrepresentableEntry("/", $"the input uses {all.Count} distinct owner and group ids; squashfs holds at most {SquashfsFormat.MaxIds}");
            }
            foreach (uint id in all)
            {
                _idIndex[id] = (ushort)_ids.Count;
                _ids.Add(id);
            }
        }

        /// <summary>Writes the inodes of a directory's subtree, its listing and its own inode.</summary>
        private void WriteDirectory(TreeNode dir, uint parentInode, CancellationToken cancellationToken)
        {
            List<TreeNode> children = dir.Sorted();
            int subdirectories = 0;
            foreach (TreeNode child in children)
            {
                if (child.IsDirectory)
                {
                    subdirectories++;
                    cancellationToken.ThrowIfCancellationRequested();
                    WriteDirectory(child, dir.InodeNumber, cancellationToken);
                }
            }
            foreach (TreeNode child in children)
            {
                TreeNode inode = child.Inode ?? child;
                if (!inode.IsDirectory && !inode.InodeWritten)
                {
                    WriteInode(inode);
                    inode.InodeWritten = true;
                }
            }

            byte[] listing = BuildListing(children, out List<(int Position, byte[] Name)> index, out List<(int Position, int Block)> headers);
            long listingPosition = _directories.Position;
            int listingBlock = _directories.Block;
            int listingOffset = _directories.Offset;
            _directories.Write(listing);
            foreach ((int position, int block) in headers)
            {
                _directories.WriteStartOf(listingPosition + position, _inodes, block);
            }

            FileSystemEntry e = dir.Entry;
            uint xattr = XattrIndex(e);
            uint fileSize = (uint)listing.Length + 3;
            uint nlink = (uint)(2 + subdirectories);
            _scratch.SetLength(0);
            _scratchPatches.Clear();
            var w = new BinaryWriter(_scratch);
            // The listing's compressed start is not known yet; a block stores at most its size plus the header.
            bool extended = index.Count > 0 || xattr != SquashfsFormat.NoXattr || fileSize > ushort.MaxValue
                || (long)listingBlock * (SquashfsFormat.MetadataBlockSize + 2) > uint.MaxValue;
            WriteHeader(w, extended ? (ushort)(SquashfsFormat.Directory + SquashfsFormat.ExtendedOffset) : SquashfsFormat.Directory, e, dir.InodeNumber);
            if (extended)
            {
                w.Write(nlink);
                w.Write(fileSize);
                StartOfListingBlock(w, listingBlock);
                w.Write(parentInode);
                w.Write((ushort)index.Count);
                w.Write((ushort)listingOffset);
                w.Write(xattr);
                foreach ((int position, byte[] name) in index)
                {
                    w.Write((uint)position);
                    StartOfListingBlock(w, (int)((listingPosition + position) / SquashfsFormat.MetadataBlockSize));
                    w.Write((uint)(name.Length - 1));
                    w.Write(name);
                }
            }
            else
            {
                StartOfListingBlock(w, listingBlock);
                w.Write(nlink);
                w.Write((ushort)fileSize);
                w.Write((ushort)listingOffset);
                w.Write(parentInode);
            }
            Emit(dir);
        }

        /// <summary>A 4-byte field of the inode in the scratch buffer that will hold the compressed start of a directory-table block.</summary>
        private void StartOfListingBlock(BinaryWriter w, int block)
        {
            w.Flush();
            _scratchPatches.Add((int)_scratch.Position);
            _scratchPatches.Add(block);
            w.Write(0u);
        }

        /// <summary>
        /// A directory's entries under headers (each header: up to 256 entries whose inodes share a
        /// metadata block and lie within ±32767 inode numbers), plus an index entry wherever the
        /// listing crosses another 8 KiB so lookups in large directories can skip ahead.
        /// </summary>
        private static byte[] BuildListing(List<TreeNode> children, out List<(int Position, byte[] Name)> index, out List<(int Position, int Block)> headers)
        {
            index = [];
            headers = [];
            var listing = new MemoryStream();
            var w = new BinaryWriter(listing);
            int headerAt = -1;
            int count = 0;
            int headerBlock = 0;
            uint headerInode = 0;
            int indexAnchor = 0;

            void CloseHeader()
            {
                if (headerAt >= 0)
                {
                    long end = listing.Position;
                    listing.Position = headerAt;
                    w.Write((uint)(count - 1));
                    listing.Position = end;
                }
            }

            foreach (TreeNode child in children)
            {
                TreeNode inode = child.Inode ?? child;
                int block = inode.InodeBlock;
                ushort offset = (ushort)inode.InodeOffset;
                long delta = (long)inode.InodeNumber - headerInode;
                int entrySize = 8 + child.NameBytes.Length;
                bool crossing = headerAt >= 0 && listing.Position + entrySize - indexAnchor > SquashfsFormat.MetadataBlockSize;
                if (headerAt < 0 || crossing || count == SquashfsFormat.DirectoryHeaderMaxEntries || block != headerBlock || delta is > short.MaxValue or < short.MinValue)
                {
                    CloseHeader();
                    if (crossing)
                    {
                        index.Add(((int)listing.Position, child.NameBytes));
                        indexAnchor = (int)listing.Position;
                    }
                    headerAt = (int)listing.Position;
                    count = 0;
                    headerBlock = block;
                    headerInode = inode.InodeNumber;
                    w.Write(0u);
                    headers.Add(((int)listing.Position, block));
                    w.Write(0u); // the inode block's compressed start, filled in when compressed
                    w.Write(headerInode);
                }
                w.Write(offset);
                w.Write((short)((long)inode.InodeNumber - headerInode));
                w.Write(BasicType(inode.Entry.Type));
                w.Write((ushort)(child.NameBytes.Length - 1));
                w.Write(child.NameBytes);
                count++;
            }
            CloseHeader();
            return listing.ToArray();
        }

        private static ushort BasicType(FileSystemEntryType type) => type switch
        {
            FileSystemEntryType.Directory => SquashfsFormat.Directory,
            FileSystemEntryType.RegularFile => SquashfsFormat.File,
            FileSystemEntryType.Symlink => SquashfsFormat.Symlink,
            FileSystemEntryType.BlockDevice => SquashfsFormat.BlockDevice,
            FileSystemEntryType.CharacterDevice => SquashfsFormat.CharDevice,
            FileSystemEntryType.Fifo => SquashfsFormat.Fifo,
            FileSystemEntryType.Socket => SquashfsFormat.Socket,
            _ => throw new InvalidOperationException($"no inode type for {type}"),
        };

        private void WriteInode(TreeNode node)
        {
            FileSystemEntry e = node.Entry;
            uint xattr = XattrIndex(e);
            bool hasXattr = xattr != SquashfsFormat.NoXattr;
            uint nlink = node.LinkCount;
            _scratch.SetLength(0);
            _scratchPatches.Clear();
            var w = new BinaryWriter(_scratch);
            switch (e.Type)
            {
                case FileSystemEntryType.RegularFile:
                {
                    FileContent c = node.Content!;
                    // Sparse files take the extended form too, as mksquashfs writes them (it records the bytes saved).
                    bool extended = hasXattr || nlink > 1 || c.SparseBytes > 0 || c.Start > uint.MaxValue || c.Size > uint.MaxValue;
                    WriteHeader(w, extended ? (ushort)(SquashfsFormat.File + SquashfsFormat.ExtendedOffset) : SquashfsFormat.File, e, node.InodeNumber);
                    long start = c.Blocks.Length == 0 ? 0 : c.Start;
                    if (extended)
                    {
                        w.Write((ulong)start);
                        w.Write((ulong)c.Size);
                        w.Write((ulong)c.SparseBytes);
                        w.Write(nlink);
                        w.Write(c.Fragment);
                        w.Write(c.FragmentOffset);
                        w.Write(xattr);
                    }
                    else
                    {
                        w.Write((uint)start);
                        w.Write(c.Fragment);
                        w.Write(c.FragmentOffset);
                        w.Write((uint)c.Size);
                    }
                    foreach (uint word in c.Blocks)
                    {
                        w.Write(word);
                    }
                    break;
                }
                case FileSystemEntryType.Symlink:
                {
                    byte[] target = Encoding.UTF8.GetBytes(e.LinkTarget!);
                    WriteHeader(w, hasXattr ? (ushort)(SquashfsFormat.Symlink + SquashfsFormat.ExtendedOffset) : SquashfsFormat.Symlink, e, node.InodeNumber);
                    w.Write(nlink);
                    w.Write((uint)target.Length);
                    w.Write(target);
                    if (hasXattr)
                    {
                        w.Write(xattr);
                    }
                    break;
                }
                case FileSystemEntryType.CharacterDevice or FileSystemEntryType.BlockDevice:
                {
                    bool block = e.Type == FileSystemEntryType.BlockDevice;
                    ushort type = block ? SquashfsFormat.BlockDevice : SquashfsFormat.CharDevice;
                    WriteHeader(w, hasXattr ? (ushort)(type + SquashfsFormat.ExtendedOffset) : type, e, node.InodeNumber);
                    w.Write(nlink);
                    w.Write(SquashfsFormat.EncodeDevice(e.DeviceMajor, e.DeviceMinor));
                    if (hasXattr)
                    {
                        w.Write(xattr);
                    }
                    break;
                }
                case FileSystemEntryType.Fifo or FileSystemEntryType.Socket:
                {
                    bool fifo = e.Type == FileSystemEntryType.Fifo;
                    ushort type = fifo ? SquashfsFormat.Fifo : SquashfsFormat.Socket;
                    WriteHeader(w, hasXattr ? (ushort)(type + SquashfsFormat.ExtendedOffset) : type, e, node.InodeNumber);
                    w.Write(nlink);
                    if (hasXattr)
                    {
                        w.Write(xattr);
                    }
                    break;
                }
                default:
                    throw new InvalidOperationException($"no inode for {e.Type}");
            }
            Emit(node);
        }

        private void WriteHeader(BinaryWriter w, ushort type, FileSystemEntry e, uint number)
        {
            w.Write(type);
            // Permission bits only: the type lives in the inode type, and recent kernels refuse an
            // inode whose mode carries type bits (mksquashfs writes them the same way).
            w.Write((ushort)e.Mode);
            w.Write(_idIndex[(uint)e.Uid]);
            w.Write(_idIndex[(uint)e.Gid]);
            w.Write((uint)e.ModificationTime);
            w.Write(number);
        }

        /// <summary>Appends the inode built in the scratch buffer to the inode table and notes where it went.</summary>
        private void Emit(TreeNode node)
        {
            long position = _inodes.Position;
            node.InodeBlock = _inodes.Block;
            node.InodeOffset = _inodes.Offset;
            _inodes.Write(_scratch.GetBuffer().AsSpan(0, (int)_scratch.Length));
            for (int i = 0; i < _scratchPatches.Count; i += 2)
            {
                _inodes.WriteStartOf(position + _scratchPatches[i], _directories, _scratchPatches[i + 1]);
            }
            _inodeRefs[(int)node.InodeNumber - 1] = (node.InodeBlock, node.InodeOffset);
        }

        /// <summary>The index of the entry's attribute set in the xattr id table (sets are stored once), or none.</summary>
        private uint XattrIndex(FileSystemEntry e)
        {
            if (e.ExtendedAttributes.Count == 0)
            {
                return SquashfsFormat.NoXattr;
            }
            var bytes = new MemoryStream();
            var w = new BinaryWriter(bytes);
            foreach (KeyValuePair<string, byte[]> pair in e.ExtendedAttributes.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                int type = XattrType(pair.Key);
                byte[] name = Encoding.UTF8.GetBytes(pair.Key[SquashfsFormat.XattrPrefixes[type].Length..]);
                w.Write((ushort)type);
                w.Write((ushort)name.Length);
                w.Write(name);
                w.Write((uint)pair.Value.Length);
                w.Write(pair.Value);
            }
            byte[] set = bytes.ToArray();
            string key = Convert.ToBase64String(set);
            if (!_xattrIndex.TryGetValue(key, out uint id))
            {
                id = (uint)_xattrSets.Count;
                _xattrSets.Add((set, e.ExtendedAttributes.Count));
                _xattrIndex.Add(key, id);
            }
            return id;
        }
    }
}
