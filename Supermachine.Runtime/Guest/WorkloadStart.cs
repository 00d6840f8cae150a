using Supermachine.Guest.Readiness;
using Supermachine.Guest.Staging;

namespace Supermachine.Guest;

/// <summary>
/// Everything that brings a fresh guest's workload to the state a snapshot captures: the files put
/// in first, the process, when it counts as ready, and the warmup after that. The bake and a cold
/// start run the same one (<see cref="GuestInstance.StartWorkloadAsync"/>).
/// </summary>
internal sealed record WorkloadStart
{
    public required WorkloadSpec Workload { get; init; }

    public ReadinessSpec Readiness { get; init; } = new();

    /// <summary>Mounted first, in order: bake-time volumes, then run-time volumes and host directories.</summary>
    public IReadOnlyList<GuestMount> Mounts { get; init; } = [];

    /// <summary>Written before the workload starts.</summary>
    public IReadOnlyList<GuestFile> Files { get; init; } = [];

    /// <summary>A shell command run once the workload is ready; null for none.</summary>
    public string? Warmup { get; init; }
}
