using System.Text;

namespace Supermachine.Guest;

/// <summary>
/// Writes a "newc" cpio archive, the format the Linux kernel unpacks as an initramfs. Deterministic:
/// inode numbers count up from 1 in write order, and every timestamp is the one given (0 by
/// default), so the same entries give the same bytes, and the initramfs hash can sit in a bake
/// fingerprint.
/// </summary>
internal sealed class CpioWriter : IDisposable
{
    private const int S_IFDIR = 0x4000;
    private const int S_IFREG = 0x8000;
    private const int S_IFLNK = 0xA000;
    private const int S_IFCHR = 0x2000;

    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private int _nextInode = 1;
    private bool _finished;

    public CpioWriter(Stream output, bool leaveOpen = false)
    {
        _output = output;
        _leaveOpen = leaveOpen;
    }

    public void AddDirectory(string path, int mode = 0x1ED /* 0755 */, long mtime = 0) =>
        WriteEntry(path, S_IFDIR | mode, 0, 0, 2, mtime, ReadOnlySpan<byte>.Empty, 0, 0);

    public void AddFile(string path, ReadOnlySpan<byte> content, int mode = 0x1A4 /* 0644 */, long mtime = 0) =>
        WriteEntry(path, S_IFREG | mode, 0, 0, 1, mtime, content, 0, 0);

    public void AddSymlink(string path, string target, long mtime = 0) =>
        WriteEntry(path, S_IFLNK | 0x1FF, 0, 0, 1, mtime, Encoding.UTF8.GetBytes(target), 0, 0);

    public void AddCharacterDevice(string path, int major, int minor, int mode = 0x180 /* 0600 */, long mtime = 0) =>
        WriteEntry(path, S_IFCHR | mode, 0, 0, 1, mtime, ReadOnlySpan<byte>.Empty, major, minor);

    /// <summary>Writes the trailer and pads to a 512-byte boundary, as cpio does.</summary>
    public void Finish()
    {
        if (_finished)
        {
            return;
        }
        _nextInode = 0;
        WriteEntry("TRAILER!!!", 0, 0, 0, 1, 0, ReadOnlySpan<byte>.Empty, 0, 0);
        long pad = (512 - _output.Position % 512) % 512;
        _output.Write(new byte[pad]);
        _finished = true;
    }

    public void Dispose()
    {
        Finish();
        if (!_leaveOpen)
        {
            _output.Dispose();
        }
    }

    private void WriteEntry(string path, int mode, int uid, int gid, int nlink, long mtime, ReadOnlySpan<byte> data, int rdevMajor, int rdevMinor)
    {
        if (_finished)
        {
            throw new InvalidOperationException("The archive is finished.");
        }
        string name = path.TrimStart('/');
        if (name.Length == 0 || name.Split('/').Any(p => p is "" or "." or ".."))
        {
            throw new ArgumentException($"'{path}' is not a clean relative path.", nameof(path));
        }
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        var header = new StringBuilder("070701", 110);
        foreach (long field in new long[]
        {
            _nextInode == 0 ? 0 : _nextInode++, mode, uid, gid, nlink, mtime, data.Length,
            0, 0, rdevMajor, rdevMinor, nameBytes.Length + 1, 0,
        })
        {
            header.Append(((uint)field).ToString("x8"));
        }
        _output.Write(Encoding.ASCII.GetBytes(header.ToString()));
        _output.Write(nameBytes);
        _output.WriteByte(0);
        Pad4();
        _output.Write(data);
        Pad4();
    }

    private void Pad4()
    {
        int pad = (int)((4 - _output.Position % 4) % 4);
        for (int i = 0; i < pad; i++)
        {
            _output.WriteByte(0);
        }
    }
}
