using System.Diagnostics;

namespace Supermachine.Vmm.Qemu;

/// <summary>
/// A QEMU started for a snapshot and waiting in -incoming defer: the process start, the RAM file
/// mapping and QMP set-up are already paid, so completing costs only the state load and a resume.
/// </summary>
internal sealed class QemuPreparedRestore : IPreparedRestore
{
    private readonly QemuMachine _vm;
    private readonly string _directory;
    private readonly TimeSpan _timeout;
    private int _used;

    internal QemuPreparedRestore(QemuMachine vm, string directory, TimeSpan timeout)
    {
        _vm = vm;
        _directory = directory;
        _timeout = timeout;
    }

    public string SnapshotDirectory => _directory;

    public Task<IVirtualMachine> CompleteAsync(CancellationToken cancellationToken = default) =>
        CompleteAsync(Stopwatch.StartNew(), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _used, 1) == 0)
        {
            await _vm.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal async Task<IVirtualMachine> CompleteAsync(Stopwatch clock, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _used, 1) != 0)
        {
            throw new InvalidOperationException("This prepared restore was already completed or disposed.");
        }
        await QemuSnapshot.LoadAndResumeAsync(_vm, _directory, _timeout, clock, cancellationToken).ConfigureAwait(false);
        return _vm;
    }
}
