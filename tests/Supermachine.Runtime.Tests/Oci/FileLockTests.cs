using Supermachine.Oci.Storage;

namespace Supermachine.Tests.Oci;

public sealed class FileLockTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sm-lock-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_held_lock_is_waited_for_and_taken_once_released()
    {
        string path = Path.Combine(_dir, "entry.lock");
        FileStream first = await FileLock.AcquireAsync(path, CancellationToken.None);
        Task<FileStream> second = FileLock.AcquireAsync(path, CancellationToken.None);
        await Task.Delay(300);
        Assert.False(second.IsCompleted);
        await first.DisposeAsync();
        await using FileStream taken = await second.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Waiting_for_a_held_lock_can_be_cancelled()
    {
        string path = Path.Combine(_dir, "entry.lock");
        await using FileStream first = await FileLock.AcquireAsync(path, CancellationToken.None);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => FileLock.AcquireAsync(path, cancel.Token));
    }

    [Fact]
    public async Task A_failure_that_is_not_a_held_lock_fails_at_once_instead_of_spinning()
    {
        // A symbolic link to itself: opening it fails with ELOOP, which no amount of waiting mends.
        string path = Path.Combine(_dir, "loop.lock");
        File.CreateSymbolicLink(path, path);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Task<FileStream> acquire = FileLock.AcquireAsync(path, patience.Token);
        await Assert.ThrowsAsync<IOException>(() => acquire);
        Assert.False(patience.IsCancellationRequested);
    }
}
