using System.Runtime.ExceptionServices;

namespace Supermachine;

/// <summary>
/// Fresh VMs of one image on demand, for tests and servers that want a clean guest per use.
/// The pool keeps <see cref="MicroVmPoolOptions.MinIdle"/> VMs already started (restored from the
/// image's snapshot and serving), so <see cref="AcquireAsync"/> is a hand-over, not a restore.
/// Releasing a lease stops its VM (a used guest is never handed out again) and starts a
/// replacement in the background. At most <see cref="MicroVmPoolOptions.Max"/> VMs exist at once;
/// an acquire beyond that waits for a release. Disposing the pool stops every VM it started,
/// leased ones included.
/// </summary>
/// <remarks>
/// Idle VMs are running restores rather than engines waiting to load a snapshot: a hand-over costs
/// microseconds, where completing a pre-started engine still costs the state load, a resume and
/// the agent's hello. The price is the guest RAM each idle VM holds, which
/// <see cref="MicroVmPoolOptions.IdleTimeout"/> gives back when the pool goes unused.
/// </remarks>
public sealed class MicroVmPool : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly MicroVmPoolOptions _options;
    private readonly MicroVmOptions _vmOptions;
    private readonly Queue<MicroVm> _idle = new();
    private readonly HashSet<MicroVm> _leased = [];
    private readonly LinkedList<TaskCompletionSource<MicroVm?>> _waiters = new();
    // Starts and retirements under way; disposal waits for them.
    private readonly HashSet<Task> _starting = [];
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Timer? _idleTimer;

    // VMs that exist or are being started: idle, leased and starting together; never above Max.
    private int _count;
    private int _refilling;
    private ExceptionDispatchInfo? _refillFailure;
    private long _lastAcquire = Environment.TickCount64;
    private bool _dormant;
    private bool _disposed;

    /// <summary>Creates a pool of <paramref name="image"/> and starts filling it in the background.</summary>
    public MicroVmPool(MicroVmImage image, MicroVmPoolOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= new MicroVmPoolOptions();
        options.Validate();
        Image = image;
        _options = options;
        _vmOptions = options.VmOptions ?? new MicroVmOptions();
        if (options.IdleTimeout is TimeSpan timeout)
        {
            TimeSpan period = TimeSpan.FromTicks(Math.Max(timeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 10));
            _idleTimer = new Timer(_ => _ = RetireIdleAsync(), null, period, period);
        }
        lock (_gate)
        {
            Refill();
        }
    }

    /// <summary>Creates a pool of the image an app's build baked as <paramref name="name"/> (see <see cref="MicroVmImage.Find"/>).</summary>
    public MicroVmPool(string name, MicroVmPoolOptions? options = null)
        : this(MicroVmImage.Find(name), options)
    {
    }

    public MicroVmImage Image { get; }

    /// <summary>VMs started and waiting to be acquired.</summary>
    public int IdleCount
    {
        get
        {
            lock (_gate)
            {
                return _idle.Count;
            }
        }
    }

    /// <summary>VMs of the pool right now: idle, leased and starting.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>
    /// Waits until <see cref="MicroVmPoolOptions.MinIdle"/> VMs are ready (or as many as
    /// <see cref="MicroVmPoolOptions.Max"/> leaves room for). A failed background start is thrown here.
    /// </summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task[] pending;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                NoteUse();
                ThrowRefillFailure();
                if (_idle.Count >= _options.MinIdle || _refilling == 0 || _starting.Count == 0)
                {
                    return;
                }
                pending = [.. _starting];
            }
            await Task.WhenAny(pending).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A VM nobody has used: an idle one at once, else one started now, else (at
    /// <see cref="MicroVmPoolOptions.Max"/>) the next one a release makes room for. Dispose the lease
    /// to stop the VM. A background start that failed since the last call is thrown here.
    /// </summary>
    public async Task<MicroVmLease> AcquireAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        TaskCompletionSource<MicroVm?> waiter;
        LinkedListNode<TaskCompletionSource<MicroVm?>> node;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            NoteUse();
            ThrowRefillFailure();
            if (_idle.TryDequeue(out MicroVm? idle))
            {
                _leased.Add(idle);
                Refill();
                return new MicroVmLease(this, idle);
            }
            waiter = new TaskCompletionSource<MicroVm?>(TaskCreationOptions.RunContinuationsAsynchronously);
            node = _waiters.AddLast(waiter);
            // Serves this waiter at once when there is room; otherwise a release will.
            Pump();
        }

        MicroVm? handed;
        using (cancellationToken.Register(() =>
        {
            lock (_gate)
            {
                if (node.List is not null)
                {
                    _waiters.Remove(node);
                    waiter.TrySetCanceled(cancellationToken);
                }
            }
        }))
        {
            handed = await waiter.Task.ConfigureAwait(false);
        }
        if (handed is not null)
        {
            return new MicroVmLease(this, handed);
        }

        // Granted room for one more VM: start it for this caller.
        try
        {
            MicroVm vm = await StartVmAsync(null, v => _leased.Add(v), cancellationToken).ConfigureAwait(false);
            return new MicroVmLease(this, vm);
        }
        catch
        {
            lock (_gate)
            {
                _count--;
                Pump();
            }
            throw;
        }
    }

    internal async ValueTask ReleaseAsync(MicroVm vm)
    {
        bool ours;
        lock (_gate)
        {
            ours = _leased.Remove(vm);
        }
        // Stopped before its slot is given back, so Max bounds engine processes, not just leases.
        await vm.TerminateAsync().ConfigureAwait(false);
        if (ours)
        {
            lock (_gate)
            {
                _count--;
                Pump();
            }
        }
    }

    /// <summary>Stops every VM of the pool (idle, starting and leased) and fails waiting acquires.</summary>
    public async ValueTask DisposeAsync()
    {
        List<MicroVm> vms;
        Task[] starting;
        List<TaskCompletionSource<MicroVm?>> waiters;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            vms = [.. _idle, .. _leased];
            _idle.Clear();
            _leased.Clear();
            starting = [.. _starting];
            waiters = [.. _waiters];
            _waiters.Clear();
        }
        if (_idleTimer is not null)
        {
            await _idleTimer.DisposeAsync().ConfigureAwait(false);
        }
        await _shutdown.CancelAsync().ConfigureAwait(false);
        foreach (TaskCompletionSource<MicroVm?> waiter in waiters)
        {
            waiter.TrySetException(new ObjectDisposedException(nameof(MicroVmPool)));
        }
        await Task.WhenAll(vms.Select(vm => vm.TerminateAsync().AsTask())).ConfigureAwait(false);
        // A start in flight sees the pool disposed and stops its VM before it completes.
        await Task.WhenAll(starting).ConfigureAwait(false);
        _shutdown.Dispose();
    }

    /// <summary>
    /// Starts a VM and, under the lock, hands it to <paramref name="adopt"/> unless the pool was
    /// disposed meanwhile (then it is stopped and the start fails with ObjectDisposedException).
    /// Tracked so that disposal waits for it.
    /// </summary>
    private async Task<MicroVm> StartVmAsync(TaskCompletionSource? tracking, Action<MicroVm> adopt, CancellationToken cancellationToken)
    {
        TaskCompletionSource done = tracking ?? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            lock (_gate)
            {
                _starting.Add(done.Task);
                ObjectDisposedException.ThrowIf(_disposed, this);
            }
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
            MicroVm vm;
            try
            {
                vm = await MicroVm.StartAsync(Image, _vmOptions, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_shutdown.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ObjectDisposedException(nameof(MicroVmPool));
            }
            lock (_gate)
            {
                if (!_disposed)
                {
                    adopt(vm);
                    return vm;
                }
            }
            await vm.TerminateAsync().ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(MicroVmPool));
        }
        finally
        {
            lock (_gate)
            {
                _starting.Remove(done.Task);
            }
            done.SetResult();
        }
    }

    private async Task RefillOneAsync(TaskCompletionSource tracking)
    {
        try
        {
            await StartVmAsync(tracking, vm =>
            {
                // Even when the pool went dormant meanwhile: the next retirement pass stops it.
                _refilling--;
                _idle.Enqueue(vm);
                Pump();
            }, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                _refilling--;
                _count--;
                // Kept for the next acquire; no retry until then, so a broken image does not spin.
                if (!_disposed && e is not ObjectDisposedException)
                {
                    _refillFailure ??= ExceptionDispatchInfo.Capture(e);
                }
                Pump();
            }
        }
    }

    /// <summary>Under the lock: hands idle VMs or free room to waiting acquires in order, then refills.</summary>
    private void Pump()
    {
        while (_waiters.First is { } first)
        {
            if (_idle.TryDequeue(out MicroVm? vm))
            {
                _waiters.RemoveFirst();
                _leased.Add(vm);
                first.Value.TrySetResult(vm);
            }
            else if (_count < _options.Max)
            {
                _waiters.RemoveFirst();
                _count++;
                first.Value.TrySetResult(null);
            }
            else
            {
                break;
            }
        }
        Refill();
    }

    /// <summary>Under the lock: starts background VMs until MinIdle are idle or starting, within Max and never ahead of a waiting acquire.</summary>
    private void Refill()
    {
        if (_disposed || _dormant || _refillFailure is not null || _waiters.Count > 0)
        {
            return;
        }
        while (_idle.Count + _refilling < _options.MinIdle && _count < _options.Max)
        {
            _count++;
            _refilling++;
            // Off this thread: a start spawns the engine synchronously, which must not happen under
            // the lock nor delay the acquire that triggered the refill.
            // Tracked from here, so WarmUpAsync and DisposeAsync see it before it runs.
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _starting.Add(done.Task);
            _ = Task.Run(() => RefillOneAsync(done));
        }
    }

    private void NoteUse()
    {
        _lastAcquire = Environment.TickCount64;
        _dormant = false;
    }

    private void ThrowRefillFailure()
    {
        if (_refillFailure is { } failure)
        {
            _refillFailure = null;
            Refill();
            failure.Throw();
        }
    }

    private async Task RetireIdleAsync()
    {
        List<MicroVm> retired;
        // Tracked like a start, so that disposing the pool waits until these engines are gone too.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_disposed || _idle.Count == 0 || Environment.TickCount64 - _lastAcquire < _options.IdleTimeout!.Value.TotalMilliseconds)
            {
                return;
            }
            _dormant = true;
            retired = [.. _idle];
            _idle.Clear();
            _starting.Add(done.Task);
        }
        try
        {
            foreach (MicroVm vm in retired)
            {
                await vm.TerminateAsync().ConfigureAwait(false);
                lock (_gate)
                {
                    _count--;
                    Pump();
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _starting.Remove(done.Task);
            }
            done.SetResult();
        }
    }
}

/// <summary>
/// A VM acquired from a <see cref="MicroVmPool"/>. Disposing it stops the VM (its state goes with
/// it) and lets the pool start a fresh one.
/// </summary>
public sealed class MicroVmLease : IAsyncDisposable
{
    private readonly MicroVmPool _pool;
    private int _released;

    internal MicroVmLease(MicroVmPool pool, MicroVm vm)
    {
        _pool = pool;
        Vm = vm;
    }

    public MicroVm Vm { get; }

    /// <summary>The image's client connection string for this lease's VM (see <see cref="MicroVm.GetConnectionString()"/>).</summary>
    public string GetConnectionString() => Vm.GetConnectionString();

    /// <summary>"127.0.0.1:PORT" forwarded to <paramref name="guestPort"/> in this lease's VM.</summary>
    public string GetConnectionString(int guestPort) => Vm.GetConnectionString(guestPort);

    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _released, 1) == 0 ? _pool.ReleaseAsync(Vm) : ValueTask.CompletedTask;
}
