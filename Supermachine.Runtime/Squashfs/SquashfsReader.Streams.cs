using System.Buffers.Binary;

namespace Supermachine.Squashfs;

// The reader's two cursors: one over the metadata areas (inodes, directories, tables), one over a
// regular file's data blocks and fragment.
public sealed partial class SquashfsReader
{
    /// <summary>A position in a metadata area that reads across block boundaries.</summary>
    private sealed class Cursor(SquashfsReader reader, long block, int offset)
    {
        private long _block = block;
        private int _offset = offset;

        public void Read(Span<byte> destination)
        {
            while (destination.Length > 0)
            {
                var (data, length, next) = reader.MetadataBlock(_block);
                if (_offset > length)
                {
                    throw new InvalidDataException($"offset {_offset} is beyond a metadata block of {length} bytes");
                }
                int n = Math.Min(destination.Length, length - _offset);
                data.AsSpan(_offset, n).CopyTo(destination);
                destination = destination[n..];
                _offset += n;
                if (_offset == length && destination.Length > 0)
                {
                    _block = next;
                    _offset = 0;
                }
            }
        }

        public ushort U16() { Span<byte> b = stackalloc byte[2]; Read(b); return BinaryPrimitives.ReadUInt16LittleEndian(b); }

        public uint U32() { Span<byte> b = stackalloc byte[4]; Read(b); return BinaryPrimitives.ReadUInt32LittleEndian(b); }

        public ulong U64() { Span<byte> b = stackalloc byte[8]; Read(b); return BinaryPrimitives.ReadUInt64LittleEndian(b); }
    }

    /// <summary>A regular file's content, block by block; sparse blocks read as zeros.</summary>
    private sealed class ContentStream : Stream
    {
        private readonly SquashfsReader _reader;
        private readonly Inode _inode;
        private readonly long[] _offsets;
        private readonly byte[] _block;
        private long _position;
        private long _cached = -1;
        private int _cachedLength;

        public ContentStream(SquashfsReader reader, Inode inode)
        {
            _reader = reader;
            _inode = inode;
            _block = new byte[reader._sb.BlockSize];
            _offsets = new long[inode.Blocks.Length];
            long at = inode.Start;
            for (int i = 0; i < _offsets.Length; i++)
            {
                _offsets[i] = at;
                at += inode.Blocks[i] & ~SquashfsFormat.DataUncompressedBit;
            }
        }

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => _inode.Size;

        public override long Position
        {
            get => _position;
            set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_position >= _inode.Size || buffer.Length == 0)
            {
                return 0;
            }
            long index = _position / _block.Length;
            int within = (int)(_position % _block.Length);
            int expected = (int)Math.Min(_block.Length, _inode.Size - index * _block.Length);
            if (_cached != index)
            {
                _reader.Guard(() => Load(index, expected));
            }
            int n = Math.Min(buffer.Length, _cachedLength - within);
            _block.AsSpan(within, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        private int Load(long index, int expected)
        {
            if (index < _inode.Blocks.Length)
            {
                uint word = _inode.Blocks[index];
                if (word == 0)
                {
                    Array.Clear(_block);
                }
                else if (_reader.DataBlock(_offsets[index], word, _block) != expected)
                {
                    throw new InvalidDataException($"data block {index} has the wrong length");
                }
            }
            else
            {
                (byte[] fragment, int length) = _reader.Fragment(_inode.Fragment);
                if (_inode.FragmentOffset + (long)expected > length)
                {
                    throw new InvalidDataException("a file's tail lies beyond its fragment");
                }
                fragment.AsSpan((int)_inode.FragmentOffset, expected).CopyTo(_block);
            }
            _cached = index;
            _cachedLength = expected;
            return 0;
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => _inode.Size + offset,
        };

        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
