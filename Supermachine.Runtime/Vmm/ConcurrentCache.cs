using System.Collections.Concurrent;

namespace Supermachine.Vmm;

/// <summary>A tiny thread-safe memo: each key computed at most once per process.</summary>
internal sealed class ConcurrentCache<TKey, TValue>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Lazy<TValue>> _values = new();

    public TValue GetOrAdd(TKey key, Func<TKey, TValue> compute) =>
        _values.GetOrAdd(key, k => new Lazy<TValue>(() => compute(k), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
}
