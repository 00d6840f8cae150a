using System.Buffers.Binary;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Squashfs;

/// <summary>
/// The metadata of an image whose data blocks are written: inode and directory tables, then the
/// fragment, id, xattr and export lookup tables and the superblock (<see cref="ImageBuilder.FinishAsync"/>).
/// </summary>
/// <param name="options">The writer's options (block size, compression, deduplication, parallelism).</param>
/// <param name="codec">Compresses the metadata blocks.</param>
/// <param name="root">The finished tree, its files' content already placed.</param>
/// <param name="maxTime">The newest mtime in the tree: the superblock time unless the options set one.</param>
internal sealed class MetadataLayout(SquashfsWriterOptions options, SquashfsCodec codec, TreeNode root, long maxTime)
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
        _inodes = new MetadataWriter(codec, _closed);
        _directories = new MetadataWriter(codec, _closed);
        NumberInodes(root);
        CollectIds(root);
        uint inodeCount = _nextInode - 1;
        _inodeRefs.AddRange(new (int, int)[inodeCount]);
        WriteDirectory(root, inodeCount + 1, cancellationToken);
        _inodes.Finish();
        _directories.Finish();
        cancellationToken.ThrowIfCancellationRequested();
        MetadataWriter.CompressAll([_inodes, _directories], _closed, options.MaxDegreeOfParallelism);
        ulong rootRef = _inodes.Reference(root.InodeBlock, root.InodeOffset);

        var sb = new Superblock
        {
            InodeCount = inodeCount,
            ModificationTime = (uint)(options.ModificationTime ?? maxTime),
            BlockSize = (uint)options.BlockSize,
            FragmentCount = (uint)fragments.Count,
            Compression = codec.Id,
            BlockLog = (ushort)System.Numerics.BitOperations.Log2((uint)options.BlockSize),
            IdCount = (ushort)_ids.Count,
            VersionMajor = 4,
            VersionMinor = 0,
            RootInode = rootRef,
            XattrIdTableStart = SquashfsFormat.NoTable,
            ExportTableStart = SquashfsFormat.NoTable,
        };
        sb.Flags = SquashfsFormat.Exportable;
        if (options.Deduplicate)
        {
            sb.Flags |= SquashfsFormat.Duplicates;
        }
        if (options.Compression == SquashfsCompression.None)
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
        var w = new MetadataWriter(codec);
        fill(w);
        w.Finish();
        w.CompressAll(options.MaxDegreeOfParallelism);
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
        var kv = new MetadataWriter(codec);
        var refs = new List<(int Block, int Offset)>();
        foreach ((byte[] bytes, _) in _xattrSets)
        {
            refs.Add((kv.Block, kv.Offset));
            kv.Write(bytes);
        }
        kv.Finish();
        kv.CompressAll(options.MaxDegreeOfParallelism);
        long kvStart = output.Position;
        kv.WriteTo(output);

        var ids = new MetadataWriter(codec);
        for (int i = 0; i < _xattrSets.Count; i++)
        {
            ids.WriteUInt64(kv.Reference(refs[i].Block, refs[i].Offset));
            ids.WriteUInt32((uint)_xattrSets[i].Count);
            ids.WriteUInt32((uint)_xattrSets[i].Bytes.Length);
        }
        ids.Finish();
        ids.CompressAll(options.MaxDegreeOfParallelism);
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
            throw Diagnostic.Error("SM2103", "/", $"the input uses {all.Count} distinct owner and group ids; squashfs holds at most {SquashfsFormat.MaxIds}");
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
            int type = SquashfsEntryRules.XattrType(pair.Key);
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
