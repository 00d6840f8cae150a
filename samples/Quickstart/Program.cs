using System.Diagnostics;
using StackExchange.Redis;
using Supermachine;

// The build baked redis:7 (pulled, flattened to a squashfs, booted once, snapshotted with redis
// listening). Starting it restores that snapshot: redis is already serving.
var clock = Stopwatch.StartNew();
await using MicroVm vm = await MicroVm.StartAsync("redis_7");
Console.WriteLine($"redis_7 {(vm.Restored ? "restored" : "booted")} in {vm.StartDuration.TotalMilliseconds:F0} ms ({vm.Accelerator.ToString().ToLowerInvariant()})");

// The redis profile's connection string ("127.0.0.1:PORT", forwarded into the guest) is what StackExchange.Redis takes.
string connectionString = vm.GetConnectionString();
await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(connectionString);
IDatabase db = redis.GetDatabase();
Console.WriteLine($"PING -> {(await db.PingAsync()).TotalMilliseconds:F1} ms through {connectionString}");
Console.WriteLine($"SET greeting -> {await db.StringSetAsync("greeting", "hello from a microVM")}");
Console.WriteLine($"GET greeting -> {await db.StringGetAsync("greeting")}");
Console.WriteLine($"total {clock.Elapsed.TotalMilliseconds:F0} ms");
