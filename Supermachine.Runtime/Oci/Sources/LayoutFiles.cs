using Supermachine.Oci.Layers;
using System.Text;

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
        IndexMembers(file);
    }

    // TarReader does not expose where a member's data starts, so the headers are walked here:
    // ustar name/prefix, PAX 'x' path/size overrides and GNU 'L' long names are all archives use.
    private void IndexMembers(FileStream file)
    {
        byte[] header = new byte[512];
        string? longName = null;
        long? longSize = null;
        long position = 0;
        while (position + 512 <= file.Length)
        {
            file.Position = position;
            file.ReadExactly(header);
            if (header.All(b => b == 0))
            {
                break;
            }
            string name = CString(header, 0, 100);
            if (Encoding.ASCII.GetString(header, 257, 5) == "ustar" && CString(header, 345, 155) is { Length: > 0 } prefix)
            {
                name = prefix + "/" + name;
            }
            long size = ParseNumber(header.AsSpan(124, 12));
            char type = (char)header[156];
            long dataStart = position + 512;
            position = dataStart + (size + 511) / 512 * 512;
            if (type is 'x' or 'L')
            {
                if (size > 1 << 20)
                {
                    throw new InvalidDataException("an extended header is larger than 1 MiB");
                }
                byte[] data = new byte[size];
                file.Position = dataStart;
                file.ReadExactly(data);
                if (type == 'L')
                {
                    longName = Encoding.UTF8.GetString(data).TrimEnd('\0');
                    continue;
                }
                foreach (var (key, value) in ParsePax(data))
                {
                    if (key == "path")
                    {
                        longName = value;
                    }
                    else if (key == "size" && long.TryParse(value, out long s))
                    {
                        longSize = s;
                    }
                }
                continue;
            }
            if (type is 'g')
            {
                continue;
            }
            string effective = longName ?? name;
            long effectiveSize = longSize ?? size;
            if (longSize is long big)
            {
                position = dataStart + (big + 511) / 512 * 512;
            }
            longName = null;
            longSize = null;
            if (type is '0' or '\0' or '7')
            {
                _members[Normalize(effective)] = (dataStart, effectiveSize);
            }
        }
    }

    private static IEnumerable<(string Key, string Value)> ParsePax(byte[] data)
    {
        int i = 0;
        while (i < data.Length)
        {
            int space = Array.IndexOf(data, (byte)' ', i);
            if (space < 0 || !int.TryParse(Encoding.ASCII.GetString(data, i, space - i), out int length) || length <= 0 || i + length > data.Length)
            {
                yield break;
            }
            string record = Encoding.UTF8.GetString(data, space + 1, i + length - space - 2);
            int eq = record.IndexOf('=');
            if (eq > 0)
            {
                yield return (record[..eq], record[(eq + 1)..]);
            }
            i += length;
        }
    }

    private static string CString(byte[] buffer, int offset, int length)
    {
        int end = Array.IndexOf(buffer, (byte)0, offset, length);
        return Encoding.UTF8.GetString(buffer, offset, (end < 0 ? offset + length : end) - offset);
    }

    private static long ParseNumber(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            long value = field[0] & 0x7f;
            foreach (byte b in field[1..])
            {
                value = (value << 8) | b;
            }
            return value;
        }
        string text = Encoding.ASCII.GetString(field).Trim('\0', ' ');
        try
        {
            return text.Length == 0 ? 0 : Convert.ToInt64(text, 8);
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"'{text}' is not an octal tar header number", ex);
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
internal sealed class WindowStream(Stream inner, long windowLength) : ReadOnlyWrapperStream(inner)
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
        int n = Inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
        _remaining -= n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_remaining <= 0)
        {
            return 0;
        }
        int n = await Inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken).ConfigureAwait(false);
        _remaining -= n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

}
