using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Supermachine.Tests.MicroVms;

/// <summary>A minimal RESP client for tests: enough to SET and GET through a forwarded port (StackExchange.Redis is not on this feed).</summary>
public sealed class RedisClient : IAsyncDisposable
{
    private readonly TcpClient _tcp = new();
    private Stream _stream = Stream.Null;

    public static async Task<RedisClient> ConnectAsync(IPEndPoint endpoint)
    {
        var client = new RedisClient();
        await client._tcp.ConnectAsync(endpoint);
        client._stream = client._tcp.GetStream();
        return client;
    }

    /// <summary>Sends a command; returns a bulk or simple string reply (null for a nil bulk).</summary>
    public async Task<byte[]?> CommandAsync(params object[] args)
    {
        var request = new MemoryStream();
        request.Write(Encoding.ASCII.GetBytes($"*{args.Length}\r\n"));
        foreach (object arg in args)
        {
            byte[] bytes = arg as byte[] ?? Encoding.UTF8.GetBytes(arg.ToString()!);
            request.Write(Encoding.ASCII.GetBytes($"${bytes.Length}\r\n"));
            request.Write(bytes);
            request.Write("\r\n"u8);
        }
        await _stream.WriteAsync(request.ToArray());
        string line = await ReadLineAsync();
        switch (line[0])
        {
            case '+':
                return Encoding.UTF8.GetBytes(line[1..]);
            case ':':
                return Encoding.UTF8.GetBytes(line[1..]);
            case '-':
                throw new InvalidOperationException("redis: " + line[1..]);
            case '$':
                int length = int.Parse(line[1..]);
                if (length < 0)
                {
                    return null;
                }
                byte[] data = new byte[length + 2];
                await _stream.ReadExactlyAsync(data);
                return data[..length];
            default:
                throw new InvalidDataException("unexpected reply " + line);
        }
    }

    public async Task<string?> StringAsync(params object[] args) =>
        await CommandAsync(args) is byte[] b ? Encoding.UTF8.GetString(b) : null;

    private async Task<string> ReadLineAsync()
    {
        var line = new StringBuilder();
        byte[] one = new byte[1];
        while (true)
        {
            await _stream.ReadExactlyAsync(one);
            if (one[0] == '\n' && line.Length > 0 && line[^1] == '\r')
            {
                return line.ToString(0, line.Length - 1);
            }
            line.Append((char)one[0]);
        }
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
