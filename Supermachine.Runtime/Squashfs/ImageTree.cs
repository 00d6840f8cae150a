using System.Text;
using Supermachine.FileSystem;

namespace Supermachine.Squashfs;

/// <summary>Where a regular file's bytes went while the entries were streaming in.</summary>
internal sealed class FileContent
{
    public long Size;

    /// <summary>Size words of the data blocks, in order; 0 marks a sparse (all-zero) block.</summary>
    public uint[] Blocks = [];

    /// <summary>Where this content's compressed blocks start in the file written while streaming (they are contiguous), and their length.</summary>
    public long SpoolStart;

    public long SpoolLength;

    /// <summary>Where the tail destined for a fragment sits in the tail spool, and its length (0 for none).</summary>
    public long TailSpoolOffset;

    public int TailLength;

    public long SparseBytes;

    // Decided when the image is laid out (the fragment while streaming, again by a re-layout).
    public long Start;
    public uint Fragment = SquashfsFormat.NoFragment;
    public uint FragmentOffset;
}

/// <summary>One name in the tree being built.</summary>
internal sealed class TreeNode(string name)
{
    public string Name { get; } = name;

    public byte[] NameBytes { get; } = Encoding.UTF8.GetBytes(name);

    public required FileSystemEntry Entry { get; set; }

    public Dictionary<string, TreeNode>? Children { get; set; }

    public FileContent? Content { get; set; }

    /// <summary>For a hard link, the node whose inode it shares (resolved after the stream ends).</summary>
    public TreeNode? Inode { get; set; }

    public List<TreeNode>? SortedChildren { get; set; }

    // Decided when the image is laid out.
    public uint InodeNumber;
    /// <summary>Where the inode went: metadata block index in the inode table and offset into it.</summary>
    public int InodeBlock;
    public int InodeOffset;
    public bool InodeWritten;
    public uint LinkCount = 1;

    public bool IsDirectory => Entry.Type == FileSystemEntryType.Directory;

    /// <summary>Children sorted the way the kernel looks names up: by their bytes (strcmp).</summary>
    public List<TreeNode> Sorted()
    {
        if (SortedChildren is null)
        {
            SortedChildren = Children is null ? [] : [.. Children.Values];
            SortedChildren.Sort(static (a, b) => a.NameBytes.AsSpan().SequenceCompareTo(b.NameBytes));
        }
        return SortedChildren;
    }
}
