namespace Supermachine.Tests.Fidelity;

/// <summary>
/// Waits for a line in the workload's log. A bake without a port snapshots as soon as the workload
/// started, possibly before it printed anything (or set its traps): the restored guest goes on from there.
/// </summary>
internal static class WorkloadLogWait
{
    public static async Task<string> UntilContainsAsync(MicroVm vm, string text, TimeSpan? timeout = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            WorkloadLog log = await vm.GetWorkloadLogAsync();
            if (log.Text.Contains(text, StringComparison.Ordinal))
            {
                return log.Text;
            }
            if (clock.Elapsed > (timeout ?? TimeSpan.FromSeconds(60)))
            {
                throw new Xunit.Sdk.XunitException($"the workload log never showed '{text}'; it is:\n{log.Text}");
            }
            await Task.Delay(100);
        }
    }
}
