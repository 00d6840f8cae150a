using System.Text;
using Supermachine.Guest;

namespace Supermachine.Tests.Guest;

/// <summary>Following the workload's log from the agent's snapshots of it: new bytes only, whole lines, a gap said, the end at exit.</summary>
public class WorkloadLogFollowerTests
{
    private static WorkloadLog Snapshot(string everything, bool running, int keep = 1 << 20)
    {
        byte[] all = Encoding.UTF8.GetBytes(everything);
        return new WorkloadLog { Content = all[Math.Max(0, all.Length - keep)..], TotalBytes = all.Length, Running = running, Exited = !running };
    }

    private static async Task<List<string>> FollowAsync(params WorkloadLog[] snapshots)
    {
        int next = 0;
        var lines = new List<string>();
        await foreach (string line in WorkloadLogFollower.FollowAsync(_ => Task.FromResult(snapshots[Math.Min(next++, snapshots.Length - 1)]), TimeSpan.Zero, CancellationToken.None))
        {
            lines.Add(line);
        }
        return lines;
    }

    [Fact]
    public async Task Each_line_comes_once_as_it_completes_and_the_last_partial_one_at_exit()
    {
        List<string> lines = await FollowAsync(
            Snapshot("starting\r\nlisten", running: true),
            Snapshot("starting\r\nlisten", running: true),
            Snapshot("starting\r\nlistening on 6379\nré", running: true),
            Snapshot("starting\r\nlistening on 6379\nréady\nbye", running: false));
        Assert.Equal(["starting", "listening on 6379", "réady", "bye"], lines);
    }

    [Fact]
    public async Task A_gap_wider_than_the_kept_log_is_said_not_skipped_silently()
    {
        List<string> lines = await FollowAsync(
            Snapshot("a\n", running: true, keep: 4),
            Snapshot("a\nbbbbbbbb\ncc\n", running: false, keep: 4));
        Assert.Equal("a", lines[0]);
        Assert.Matches(@"^\[8 bytes of the workload's log were overwritten before they were read\]$", lines[1]);
        Assert.Equal("cc", lines[^1]);
    }
}
