namespace Supermachine.Compression;

/// <summary>
/// A read-only stream that decompresses zstd (all frames, concatenated) from an inner stream with
/// libzstd's streaming API. Throws SM2001 at construction when libzstd is missing.
/// </summary>
internal sealed unsafe class ZstdDecompressionStream : Stream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly byte[] _input;
    private nint _context;
    private int _inputLength;
    private int _inputPosition;
    private bool _innerEnded;
    private bool _insideFrame;

    public ZstdDecompressionStream(Stream inner, bool leaveOpen = false)
    {
        LibZstd.EnsureAvailable();
        _inner = inner;
        _leaveOpen = leaveOpen;
        _input = new byte[(int)LibZstd.DStreamInSize()];
        _context = LibZstd.CreateDStream();
        if (_context == 0)
        {
            throw new OutOfMemoryException("ZSTD_createDStream failed");
        }
        LibZstd.Check(LibZstd.InitDStream(_context));
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_context == 0, this);
        if (buffer.IsEmpty)
        {
            return 0;
        }
        while (true)
        {
            if (_inputPosition == _inputLength && !_innerEnded)
            {
                _inputLength = _inner.Read(_input, 0, _input.Length);
                _inputPosition = 0;
                _innerEnded = _inputLength == 0;
            }
            fixed (byte* output = buffer)
            fixed (byte* input = _input)
            {
                var outBuffer = new LibZstd.OutBuffer { Destination = output, Size = (nuint)buffer.Length, Position = 0 };
                var inBuffer = new LibZstd.InBuffer { Source = input, Size = (nuint)_inputLength, Position = (nuint)_inputPosition };
                int before = _inputPosition;
                nuint hint = LibZstd.Check(LibZstd.DecompressStream(_context, &outBuffer, &inBuffer));
                _inputPosition = (int)inBuffer.Position;
                // 0 means a frame just ended and was flushed; after that, calls with no input make no progress.
                if (hint == 0)
                {
                    _insideFrame = false;
                }
                else if (_inputPosition > before || outBuffer.Position > 0)
                {
                    _insideFrame = true;
                }
                if (outBuffer.Position > 0)
                {
                    return (int)outBuffer.Position;
                }
            }
            if (_innerEnded && _inputPosition == _inputLength)
            {
                return _insideFrame ? throw new InvalidDataException("zstd: the compressed stream ends inside a frame") : 0;
            }
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (_context != 0)
        {
            LibZstd.FreeDStream(_context);
            _context = 0;
        }
        if (disposing && !_leaveOpen)
        {
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
