using System.Net.Sockets;

namespace Supermachine.Vmm.Network;

/// <summary>
/// The private network's learning Ethernet switch: one unix datagram socket that every member's
/// QEMU (<c>-netdev dgram</c>) sends its frames to, one frame per datagram; a port is the sender's
/// socket path. Frames go to the port that last sent from the destination MAC, broadcast,
/// multicast and unknown destinations to every other port.
///
/// Guests are untrusted, so everything is bounded and nothing a guest sends can stop it: a frame
/// is at most one datagram (64 KiB, one buffer), shorter than an Ethernet header or from a
/// multicast source it is dropped, the port and MAC tables have fixed caps, and sends never block
/// (a member that does not read loses frames, as on a busy wire). A port whose socket is gone
/// (its VM stopped or died) is forgotten on the first failed send.
/// </summary>
internal sealed class FrameSwitch : IDisposable
{
    public const int MaxPorts = 256;
    public const int MaxMacs = 1024;
    private const int MaxFrame = 65536;
    private const int HeaderSize = 14;

    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, UnixDomainSocketEndPoint> _ports = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, string> _macs = [];
    private readonly Task _loop;

    private FrameSwitch(Socket socket)
    {
        _socket = socket;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Frames forwarded and dropped so far (for tests and the bench).</summary>
    public long Forwarded { get; private set; }

    public long Dropped { get; private set; }

    /// <summary>Binds <paramref name="path"/> (replacing a socket a dead switch left there) and starts switching.</summary>
    public static FrameSwitch Start(string path)
    {
        File.Delete(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Blocking = false;
            socket.ReceiveBufferSize = 4 << 20;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new FrameSwitch(socket);
    }

    private async Task RunAsync()
    {
        byte[] buffer = new byte[MaxFrame];
        var any = new UnixDomainSocketEndPoint("/");
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // a truncated or failed datagram: the next one stands alone
            }
            Forward(buffer.AsSpan(0, received.ReceivedBytes), received.RemoteEndPoint as UnixDomainSocketEndPoint);
        }
    }

    /// <summary>Switches one frame from <paramref name="from"/>; internal so tests can feed it garbage without sockets.</summary>
    internal void Forward(ReadOnlySpan<byte> frame, UnixDomainSocketEndPoint? from)
    {
        string? port = from?.ToString();
        if (port is null || port.Length == 0 || frame.Length < HeaderSize || (frame[6] & 1) != 0)
        {
            Dropped++;
            return;
        }
        if (!_ports.ContainsKey(port))
        {
            if (_ports.Count >= MaxPorts)
            {
                Dropped++;
                return;
            }
            _ports[port] = from!;
        }
        ulong source = Mac(frame[6..12]), destination = Mac(frame[..6]);
        if (_macs.Count < MaxMacs || _macs.ContainsKey(source))
        {
            _macs[source] = port; // a MAC moves with its sender, as on any learning switch
        }
        if ((frame[0] & 1) == 0 && _macs.TryGetValue(destination, out string? target) && _ports.ContainsKey(target))
        {
            if (target != port)
            {
                Send(frame, target);
            }
            return;
        }
        foreach (string other in _ports.Keys.ToArray())
        {
            if (other != port)
            {
                Send(frame, other);
            }
        }
    }

    private void Send(ReadOnlySpan<byte> frame, string port)
    {
        try
        {
            _socket.SendTo(frame, SocketFlags.None, _ports[port]);
            Forwarded++;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.NoBufferSpaceAvailable or SocketError.MessageSize)
        {
            Dropped++; // a member that does not keep up loses frames; nobody waits for it
        }
        catch (SocketException)
        {
            Dropped++;
            Forget(port); // its socket is gone: the VM stopped or died
        }
    }

    private void Forget(string port)
    {
        _ports.Remove(port);
        foreach (ulong mac in _macs.Where(m => m.Value == port).Select(m => m.Key).ToArray())
        {
            _macs.Remove(mac);
        }
    }

    private static ulong Mac(ReadOnlySpan<byte> bytes)
    {
        ulong value = 0;
        foreach (byte b in bytes)
        {
            value = (value << 8) | b;
        }
        return value;
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        _socket.Dispose();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }
}
