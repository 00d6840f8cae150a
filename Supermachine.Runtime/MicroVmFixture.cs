using System.Net;

namespace Supermachine;

/// <summary>
/// One VM shared by the tests of a class or collection: started (restored) in
/// <see cref="InitializeAsync"/>, stopped in <see cref="DisposeAsync"/>. The two methods have the
/// shapes of xunit's IAsyncLifetime without this library depending on xunit, so a fixture is one line:
/// <code>
/// public sealed class RedisFixture() : MicroVmFixture("redis_7"), IAsyncLifetime;
/// public class CacheTests(RedisFixture redis) : IClassFixture&lt;RedisFixture&gt; { ... redis.GetConnectionString(6379) ... }
/// </code>
/// Override <see cref="OnStartedAsync"/> to seed the VM before the first test sees it.
/// </summary>
public class MicroVmFixture : IAsyncDisposable
{
    private readonly Func<MicroVmImage> _image;
    private MicroVm? _vm;
    private int _disposed;

    /// <summary>A fixture for the image an app's build baked as <paramref name="imageName"/> (under AppContext.BaseDirectory/microvms).</summary>
    public MicroVmFixture(string imageName, MicroVmOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(imageName);
        // Looked up when the fixture starts, so a missing image fails the tests with SM3255, not their construction.
        _image = () => MicroVmImage.Find(imageName);
        Options = options ?? new MicroVmOptions();
    }

    public MicroVmFixture(MicroVmImage image, MicroVmOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        _image = () => image;
        Options = options ?? new MicroVmOptions();
    }

    public MicroVmOptions Options { get; }

    /// <summary>The running VM; available once <see cref="InitializeAsync"/> has completed.</summary>
    public MicroVm Vm => _vm ?? throw new InvalidOperationException($"{GetType().Name} has not started its VM yet: await InitializeAsync() first (xunit does so for an IAsyncLifetime fixture).");

    /// <summary>Starts the VM (a restore when the image has a snapshot) and runs <see cref="OnStartedAsync"/>.</summary>
    public async Task InitializeAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_vm is not null)
        {
            return;
        }
        MicroVm vm = await MicroVm.StartAsync(_image(), Options).ConfigureAwait(false);
        try
        {
            await OnStartedAsync(vm).ConfigureAwait(false);
        }
        catch
        {
            await vm.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        _vm = vm;
    }

    /// <summary>Runs once after the VM started, before any test uses it: seed data, create users, warm caches.</summary>
    protected virtual Task OnStartedAsync(MicroVm vm) => Task.CompletedTask;

    /// <summary>127.0.0.1 and a host port forwarded to <paramref name="guestPort"/> in the VM.</summary>
    public IPEndPoint GetEndpoint(int guestPort) => Vm.GetEndpoint(guestPort);

    /// <summary>"127.0.0.1:PORT" forwarded to <paramref name="guestPort"/>, the form redis-style clients take.</summary>
    public string GetConnectionString(int guestPort) => Vm.GetConnectionString(guestPort);

    /// <summary>The image's client connection string (see <see cref="MicroVm.GetConnectionString()"/>).</summary>
    public string GetConnectionString() => Vm.GetConnectionString();

    /// <summary>Stops the VM. Safe to call more than once.</summary>
    public async Task DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (_vm is { } vm)
        {
            await vm.DisposeAsync().ConfigureAwait(false);
        }
        GC.SuppressFinalize(this);
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());
}
