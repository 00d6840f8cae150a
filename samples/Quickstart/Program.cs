using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Supermachine;

// The build baked redis:7 (pulled, flattened to a squashfs, booted once, snapshotted with redis
// listening). Starting it restores that snapshot: redis is already serving.
var clock = Stopwatch.StartNew();
await using MicroVm vm = await MicroVm.StartAsync("redis_7");
Console.WriteLine($"redis_7 {(vm.Restored ? "restored" : "booted")} in {vm.StartDuration.TotalMilliseconds:F0} ms ({vm.Accelerator.ToString().ToLowerInvariant()})");

var endpoint = vm.GetEndpoint(6379);
using var tcp = new TcpClient();
await tcp.ConnectAsync(endpoint);
NetworkStream stream = tcp.GetStream();

// RESP by hand: a few lines, no client library needed.
async Task<string> Command(params string[] args)
{
    var request = new StringBuilder($"*{args.Length}\r\n");
    foreach (string arg in args)
    {
        request.Append($"${Encoding.UTF8.GetByteCount(arg)}\r\n{arg}\r\n");
    }
    await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()));
    byte[] buffer = new byte[4096];
    int n = await stream.ReadAsync(buffer);
    return Encoding.UTF8.GetString(buffer, 0, n).TrimEnd();
}

var roundTrip = Stopwatch.StartNew();
Console.WriteLine($"PING -> {await Command("PING")} ({roundTrip.Elapsed.TotalMilliseconds:F1} ms through {endpoint})");
Console.WriteLine($"SET greeting -> {await Command("SET", "greeting", "hello from a microVM")}");
Console.WriteLine($"GET greeting -> {(await Command("GET", "greeting")).Split("\r\n").Last()}");
Console.WriteLine($"total {clock.Elapsed.TotalMilliseconds:F0} ms");
