using System.Formats.Tar;

namespace Supermachine.Oci.Sources;

/// <summary>Read access to the files of an image layout, whether a directory or an uncompressed tar archive.</summary>
internal interface ILayoutFiles : IDisposable
{
    /// <summary>Opens <paramref name="relativePath"/> ('/'-separated), or returns null if absent.</summary>
    Stream? TryOpen(string relativePath);
}

internal sealed class DirectoryLayoutFiles(string root) : ILayoutFiles
{
    private readonly string _root = Path.GetFullPath(root);

    public Stream? TryOpen(string relativePath)
    {
        string full = Path.GetFullPath(Path.Combine(_root, relativePath));
        // Paths come from the layout's own JSON: keep them inside it.
        if (!full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(full))
        {
            return null;
        }
        return new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
    }

    public void Dispose()
    {
    }
}

/// <summary>
/// The members of an uncompressed tar (oci-archive, docker save) read in place: one scan records
/// each member's data offset, then members open as windows on the file, without extracting.
/// </summary>
internal sealed class TarArchiveLayoutFiles : ILayoutFiles
{
    private readonly string _path;
    private readonly Dictionary<string, (long Offset, long Length)> _members = new(StringComparer.Ordinal);

    public TarArchiveLayoutFiles(string path)
    {
        _path = path;
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        using var reader = new TarReader(file, leaveOpen: true);
        while (reader.GetNextEntry(copyData: false) is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
            {
                // On a seekable stream the reader stands at the member's data right after its header.
                _members[Normalize(entry.Name)] = (file.Position, entry.Length);
            }
        }
    }

    public Stream? TryOpen(string relativePath)
    {
        if (!_members.TryGetValue(Normalize(relativePath), out var member))
        {
            return null;
        }
        var file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        file.Position = member.Offset;
        return new WindowStream(file, member.Length);
    }

    public void Dispose()
    {
    }

    private static string Normalize(string name) => name.StartsWith("./", StringComparison.Ordinal) ? name[2..] : name.TrimStart('/');
}

/// <summary>The next <c>length</c> bytes of a stream, owning it.</summary>
internal sealed class WindowStream(Stream inner, long windowLength) : Stream
{
    private readonly long _length = windowLength;
    private long _remaining = windowLength;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _length;
    public override long Position { get => _length - _remaining; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_remaining <= 0)
        {
            return 0;
        }
        int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
        _remaining -= n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_remaining <= 0)
        {
            return 0;
        }
        int n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken).ConfigureAwait(false);
        _remaining -= n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
