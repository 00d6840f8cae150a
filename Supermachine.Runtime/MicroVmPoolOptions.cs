namespace Supermachine;

/// <summary>How a <see cref="MicroVmPool"/> sizes itself. The defaults suit a test run: one VM kept ready, at most four at once.</summary>
public sealed class MicroVmPoolOptions
{
    /// <summary>
    /// How many started, never-used VMs the pool keeps ready so an acquire is a hand-over rather
    /// than a restore. Zero starts every VM on demand. Default 1.
    /// </summary>
    public int MinIdle { get; init; } = 1;

    /// <summary>
    /// Upper bound on the VMs of the pool at any moment: leased, idle and starting together. An
    /// acquire beyond it waits until a lease is released. Default 4.
    /// </summary>
    public int Max { get; init; } = 4;

    /// <summary>
    /// When no acquire comes for this long, the pool stops its idle VMs (they hold guest RAM) and
    /// keeps none ready until the next acquire, which starts one on demand and refills. Null (the
    /// default) keeps <see cref="MinIdle"/> VMs ready for the pool's whole life.
    /// </summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>How each VM is started (engine, accelerator, start timeout, log).</summary>
    public MicroVmOptions? VmOptions { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MinIdle, nameof(MinIdle));
        ArgumentOutOfRangeException.ThrowIfLessThan(Max, 1, nameof(Max));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MinIdle, Max, nameof(MinIdle));
        if (IdleTimeout is TimeSpan t)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(t, TimeSpan.Zero, nameof(IdleTimeout));
        }
    }
}
