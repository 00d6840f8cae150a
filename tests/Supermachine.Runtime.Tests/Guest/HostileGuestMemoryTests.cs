using Supermachine.Diagnostics;
using Supermachine.Guest;
using Xunit.Abstractions;

namespace Supermachine.Tests.Guest;

/// <summary>Tests that measure the process's heap run alone, so other tests' allocations do not blur them.</summary>
[CollectionDefinition(nameof(HeapMeasuringCollection), DisableParallelization = true)]
public sealed class HeapMeasuringCollection;

/// <summary>
/// What a hostile guest can make the host keep: no more than the window the host granted per
/// stream (256 KiB), however it cuts its frames, and nothing for frames the host drops.
/// </summary>
[Collection(nameof(HeapMeasuringCollection))]
public class HostileGuestMemoryTests(ITestOutputHelper output)
{
    private const int Window = 256 * 1024;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private static readonly AgentConnectionOptions Impatient = new() { HelloTimeout = Bound, OperationTimeout = TimeSpan.FromSeconds(5) };

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    [Fact]
    public async Task A_window_of_one_byte_frames_costs_the_host_the_window_and_one_byte_more_is_SM3002()
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Impatient);
        await using AgentProcess process = await StartCommandAsync(guest);
        InboundQueue stdout = process.Stream.Inbound(1);
        byte[] frames = new byte[Window * 13];
        byte[] one = FakeGuest.Frame(FrameType.Data, 1, 1, "z"u8);
        for (int i = 0; i < Window; i++)
        {
            one.CopyTo(frames, i * 13);
        }
        long before = Heap();
        await guest.SendAsync(frames);
        for (int i = 0; i < 400 && stdout.Buffered < Window; i++)
        {
            await Task.Delay(25);
        }
        Assert.Equal(Window, stdout.Buffered);
        Assert.True(stdout.Capacity <= Window, $"the buffer holds {stdout.Capacity} bytes for a {Window}-byte window");
        long grown = Heap() - before;
        output.WriteLine($"one-byte frames: buffered {stdout.Buffered}, buffer {stdout.Capacity} bytes, heap +{grown} bytes");
        // One object per frame would be 262144 arrays, over 8 MiB.
        Assert.True(grown < 2 * 1024 * 1024, $"the heap grew by {grown} bytes for {Window} bytes in one-byte frames");

        await guest.SendAsync(one);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => process.WaitForExitAsync().WaitAsync(Bound));
        Assert.Equal("SM3002", e.Code);
        Assert.Contains("window", e.Message);
    }

    [Fact]
    public async Task A_guest_that_ignores_the_window_is_cut_off_after_it_and_the_host_keeps_no_more()
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Impatient);
        Task<byte[]> read = guest.Connection.ReadFileAsync("/big");
        uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
        await guest.SendAsync(FrameType.Open, 0, id, FakeGuest.U64(1L << 40));
        long before = Heap();
        long sent = await guest.WriteUntilClosedAsync(id, 1L << 30).WaitAsync(Bound);
        long grown = Heap() - before;
        var e = await Assert.ThrowsAsync<SupermachineException>(() => read.WaitAsync(Bound));
        Assert.Equal("SM3002", e.Code);
        // The window plus what sits in the socket's buffers when the host closes it.
        output.WriteLine($"window ignored: the guest wrote {sent} bytes before the host closed; heap +{grown} bytes");
        Assert.True(sent < 16 * 1024 * 1024, $"the guest wrote {sent} bytes before the host closed the channel");
        Assert.True(grown < 8 * 1024 * 1024, $"the heap grew by {grown} bytes");
    }

    [Fact]
    public async Task Frames_the_host_drops_cost_it_nothing()
    {
        await using FakeGuest guest = await FakeGuest.StartAsync(Impatient);
        await using AgentProcess process = await StartCommandAsync(guest);
        // Stray HELLOs on stream 0, and zero WINDOW credit: allowed, kept nowhere.
        byte[] hello = FakeGuest.Frame(FrameType.Hello, 0, 0, new byte[1024]);
        byte[] zeroCredit = FakeGuest.Frame(FrameType.Window, 0, 1, FakeGuest.U32(0));
        byte[] batch = [.. Enumerable.Range(0, 1000).SelectMany(i => i % 2 == 0 ? hello : zeroCredit)];
        long before = Heap();
        for (int i = 0; i < 100; i++)
        {
            await guest.SendAsync(batch);
        }
        // The command's output still arrives in order after 50 MB of ignored frames.
        await guest.SendAsync(FakeGuest.Frame(FrameType.Data, 1, 1, "after\n"u8));
        var reader = new StreamReader(process.StandardOutput);
        Assert.Equal("after", await reader.ReadLineAsync().WaitAsync(Bound));
        long grown = Heap() - before;
        output.WriteLine($"dropped frames: heap +{grown} bytes after 100000 of them");
        Assert.True(grown < 2 * 1024 * 1024, $"the heap grew by {grown} bytes");
    }

    private static async Task<AgentProcess> StartCommandAsync(FakeGuest guest)
    {
        Task<AgentProcess> starting = guest.Connection.StartExecAsync(new ExecRequest(["cat"]));
        uint id = (await guest.ExpectAsync(FrameType.Open)).Stream;
        Assert.Equal(1u, id);
        await guest.SendAsync(FrameType.Open, 0, id, FakeGuest.U32(1234));
        return await starting.WaitAsync(Bound);
    }
}
