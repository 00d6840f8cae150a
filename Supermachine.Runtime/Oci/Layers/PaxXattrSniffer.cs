using System.Text;

namespace Supermachine.Oci.Layers;

/// <summary>
/// Watches the tar bytes flowing to a TarReader and keeps the raw bytes of <c>SCHILY.xattr.*</c>
/// PAX records. System.Formats.Tar decodes PAX values as UTF-8, which mangles binary values such
/// as <c>security.capability</c>; this passive parser recovers them, keyed by the ordinal of the
/// entry they belong to (counting entries as TarReader returns them).
/// </summary>
internal sealed class PaxXattrSniffer(Stream inner) : ReadOnlyWrapperStream(inner)
{
    private readonly byte[] _header = new byte[512];
    private readonly Dictionary<int, Dictionary<string, byte[]>> _byEntry = [];
    private int _headerFill;
    private long _dataRemaining;   // bytes of the current member's data still to pass
    private long _paddingRemaining;
    private MemoryStream? _paxData; // the data of a pending 'x' header
    private Dictionary<string, byte[]>? _pending;
    private long? _pendingSize;
    private int _ordinal = -1;
    private bool _ended;

    /// <summary>The raw xattrs of entry <paramref name="ordinal"/>, if its PAX header had any.</summary>
    public IReadOnlyDictionary<string, byte[]>? For(int ordinal) => _byEntry.GetValueOrDefault(ordinal);


    public override int Read(Span<byte> buffer)
    {
        int n = Inner.Read(buffer);
        Observe(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Observe(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Observe(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty && !_ended)
        {
            if (_dataRemaining > 0)
            {
                int take = (int)Math.Min(_dataRemaining, bytes.Length);
                _paxData?.Write(bytes[..take]);
                _dataRemaining -= take;
                bytes = bytes[take..];
                if (_dataRemaining == 0 && _paxData is not null)
                {
                    _pending = ParseXattrs(_paxData.ToArray(), out _pendingSize);
                    _paxData = null;
                }
                continue;
            }
            if (_paddingRemaining > 0)
            {
                int skip = (int)Math.Min(_paddingRemaining, bytes.Length);
                _paddingRemaining -= skip;
                bytes = bytes[skip..];
                continue;
            }
            int fill = Math.Min(512 - _headerFill, bytes.Length);
            bytes[..fill].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += fill;
            bytes = bytes[fill..];
            if (_headerFill == 512)
            {
                _headerFill = 0;
                OnHeader();
            }
        }
    }

    private void OnHeader()
    {
        if (_header.All(b => b == 0))
        {
            _ended = true; // end-of-archive marker; what follows is padding
            return;
        }
        char type = (char)_header[156];
        long size = ParseSize(_header.AsSpan(124, 12));
        if (type is not ('x' or 'L' or 'K'))
        {
            _ordinal++;
            if (_pending is { Count: > 0 })
            {
                _byEntry[_ordinal] = _pending;
            }
            _pending = null;
            if (_pendingSize is long overridden)
            {
                size = overridden;
            }
            _pendingSize = null;
            // Only regular files (and contiguous/V7 ones) carry data in the stream.
            if (type is not ('0' or '\0' or '7'))
            {
                size = type is 'g' ? size : 0;
            }
        }
        _paxData = type == 'x' && size <= 1 << 20 ? new MemoryStream() : null;
        _dataRemaining = size;
        _paddingRemaining = (512 - size % 512) % 512;
        if (size == 0 && _paxData is not null)
        {
            _paxData = null;
        }
    }

    private static Dictionary<string, byte[]> ParseXattrs(byte[] data, out long? size)
    {
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        size = null;
        int i = 0;
        while (i < data.Length)
        {
            int space = Array.IndexOf(data, (byte)' ', i);
            if (space < 0 || !int.TryParse(Encoding.ASCII.GetString(data, i, space - i), out int length) || length <= 0 || i + length > data.Length)
            {
                break;
            }
            int eq = Array.IndexOf(data, (byte)'=', space + 1, i + length - space - 1);
            // A record is "LENGTH KEY=VALUE\n": the '=' must leave room for that newline.
            if (eq > 0 && eq <= i + length - 2)
            {
                string key = Encoding.UTF8.GetString(data, space + 1, eq - space - 1);
                byte[] value = data.AsSpan(eq + 1, i + length - eq - 2).ToArray(); // minus the trailing '\n'
                if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                {
                    result[key["SCHILY.xattr.".Length..]] = value;
                }
                else if (key == "size" && long.TryParse(Encoding.ASCII.GetString(value), out long s))
                {
                    size = s;
                }
            }
            i += length;
        }
        return result;
    }

    private static long ParseSize(ReadOnlySpan<byte> field)
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
        long result = 0;
        foreach (byte b in field)
        {
            if (b is >= (byte)'0' and <= (byte)'7')
            {
                result = result * 8 + (b - '0');
            }
            else if (result > 0 || b is not (0 or (byte)' '))
            {
                break;
            }
        }
        return result;
    }

}
