using System.Net.Sockets;
using System.Text;
using Supermachine;
using Xunit;

namespace RedisTests;

/// <summary>Each test restores its own redis from the snapshot the build baked: fresh state, no Docker, no pull.</summary>
public class RedisSampleTests
{
    private static async Task<string> Command(NetworkStream stream, params string[] args)
    {
        var request = new StringBuilder($"*{args.Length}\r\n");
        foreach (string arg in args)
        {
            request.Append($"${Encoding.UTF8.GetByteCount(arg)}\r\n{arg}\r\n");
        }
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()));
        byte[] buffer = new byte[4096];
        int n = await stream.ReadAsync(buffer);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    [Fact]
    public async Task A_restored_redis_answers_ping()
    {
        await using MicroVm vm = await MicroVm.StartAsync("redis_7");
        Assert.True(vm.Restored);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(vm.GetEndpoint(6379));
        Assert.Equal("+PONG\r\n", await Command(tcp.GetStream(), "PING"));
    }

    [Fact]
    public async Task Every_test_gets_its_own_state()
    {
        await using (MicroVm first = await MicroVm.StartAsync("redis_7"))
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(first.GetEndpoint(6379));
            Assert.Equal("+OK\r\n", await Command(tcp.GetStream(), "SET", "left-behind", "yes"));
        }
        await using MicroVm second = await MicroVm.StartAsync("redis_7");
        using var tcp2 = new TcpClient();
        await tcp2.ConnectAsync(second.GetEndpoint(6379));
        Assert.Equal("$-1\r\n", await Command(tcp2.GetStream(), "GET", "left-behind"));
    }
}
