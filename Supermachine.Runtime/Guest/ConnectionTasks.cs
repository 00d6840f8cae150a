namespace Supermachine.Guest;

/// <summary>The relays a forwarder has running, so disposing it can wait for each to end.</summary>
internal sealed class ConnectionTasks
{
    private readonly HashSet<Task> _running = [];

    /// <summary>Tracks <paramref name="task"/> until it completes.</summary>
    public void Add(Task task)
    {
        lock (_running)
        {
            _running.Add(task);
        }
        _ = task.ContinueWith(done =>
        {
            lock (_running)
            {
                _running.Remove(done);
            }
        }, TaskScheduler.Default);
    }

    /// <summary>Waits for every tracked relay and <paramref name="others"/>; cancellation errors are expected and swallowed.</summary>
    public async Task WaitAllAsync(IEnumerable<Task> others)
    {
        Task[] open;
        lock (_running)
        {
            open = [.. _running];
        }
        try
        {
            await Task.WhenAll(open.Concat(others)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Connections end with cancellation errors when stopped; they are gone either way.
        }
    }
}
