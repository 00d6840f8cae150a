using System.Buffers;
using Supermachine.Oci.Layers;

namespace Supermachine.Oci.Registry;

/// <summary>
/// A network read that got nothing for the idle timeout. An <see cref="IOException"/>, so every
/// retry that covers a dropped connection covers a stalled one too; the last one becomes SM1010.
/// </summary>
public sealed class NetworkStallException(string authority, TimeSpan timeout, string what)
    : IOException($"{authority} sent nothing for {timeout.TotalSeconds:0.###} s while {what}")
{
    /// <summary>host[:port] of the server that stalled.</summary>
    public string Authority { get; } = authority;

    public TimeSpan Timeout { get; } = timeout;

    /// <summary>What was being read ("reading blob sha256:…").</summary>
    public string What { get; } = what;
}

/// <summary>
/// Bounds each read of a response body by the idle timeout: a read that returns nothing for that
/// long is cancelled (which closes the connection) and fails with <see cref="NetworkStallException"/>.
/// The clock restarts with every read, so a slow but moving body is never cut off.
/// </summary>
internal sealed class IdleTimeoutStream : ReadOnlyWrapperStream
{
    private readonly TimeSpan _timeout;
    private readonly string _authority;
    private readonly string _what;
    private readonly IDisposable? _owner;

    public IdleTimeoutStream(Stream inner, TimeSpan timeout, string authority, string what, IDisposable? owner = null)
        : base(inner)
    {
        _timeout = timeout;
        _authority = authority;
        _what = what;
        _owner = owner;
    }

    // Body reads are asynchronous everywhere in the client; a synchronous read goes through the same bound.
    public override int Read(Span<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int n = ReadAsync(rented.AsMemory(0, buffer.Length), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(_timeout);
        try
        {
            return await Inner.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && idle.IsCancellationRequested)
        {
            throw new NetworkStallException(_authority, _timeout, _what) { Source = ex.Source };
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _owner?.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// Runs <paramref name="operation"/> (sending a request up to its response headers) with the
    /// idle timeout; a timeout becomes <see cref="NetworkStallException"/>, the caller's cancellation stays one.
    /// </summary>
    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> operation, TimeSpan timeout, string authority, string what, CancellationToken cancellationToken)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(timeout);
        try
        {
            return await operation(idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && idle.IsCancellationRequested)
        {
            throw new NetworkStallException(authority, timeout, what);
        }
    }
}
