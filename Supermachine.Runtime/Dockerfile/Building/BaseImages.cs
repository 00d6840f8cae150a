using System.Collections.Concurrent;
using Supermachine.Dockerfile.Planning;
using Supermachine.Oci;
using Supermachine.Oci.Manifests;
using OciImageConfig = Supermachine.Oci.Manifests.ImageConfig;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// The images a build starts from (FROM, COPY --from=image), pulled through the OCI client once per
/// build: their digests for cache keys, their configs for planning, their layers as the bottom of a
/// stage's chain.
/// </summary>
internal sealed class BaseImages(ImagePuller puller, Func<string?, PullOptions> pullOptions) : IBaseImageResolver, IBuildInputs
{
    private readonly ConcurrentDictionary<(string Reference, string? Platform), Lazy<Task<PulledImage>>> _pulled = new();

    public Task<PulledImage> PullAsync(string reference, string? platform, CancellationToken cancellationToken) =>
        _pulled.GetOrAdd((reference, platform), key => new Lazy<Task<PulledImage>>(() => puller.PullAsync(key.Reference, pullOptions(key.Platform), cancellationToken))).Value;

    public async ValueTask<string> GetImageDigestAsync(string reference, string? platform, CancellationToken cancellationToken) =>
        (await PullAsync(reference, platform, cancellationToken).ConfigureAwait(false)).ManifestDigest;

    public async ValueTask<Planning.ImageConfig> GetConfigAsync(string reference, string? platform, CancellationToken cancellationToken) =>
        FromOci((await PullAsync(reference, platform, cancellationToken).ConfigureAwait(false)).Config.Config);

    public async Task<LayerChain> GetChainAsync(string reference, string? platform, CancellationToken cancellationToken) =>
        ChainOf(await PullAsync(reference, platform, cancellationToken).ConfigureAwait(false));

    public static LayerChain ChainOf(PulledImage image)
    {
        IReadOnlyList<string> diffIds = image.Config.RootFs?.DiffIds ?? [];
        return new LayerChain(image.Layers.Select((l, i) => new ChainLayer(
            l.Descriptor.Digest,
            i < diffIds.Count ? diffIds[i] : l.Descriptor.Digest,
            l.Descriptor.MediaType ?? MediaTypes.OciLayerGzip,
            l.Descriptor.Size)).ToList());
    }

    public static Planning.ImageConfig FromOci(OciImageConfig config) => new()
    {
        Env = [.. config.Env ?? []],
        Cmd = config.Cmd is null ? null : [.. config.Cmd],
        Entrypoint = config.Entrypoint is null ? null : [.. config.Entrypoint],
        WorkingDir = config.WorkingDir ?? "",
        User = config.User ?? "",
        ExposedPorts = new SortedSet<string>(config.ExposedPorts?.Keys ?? [], StringComparer.Ordinal),
        Labels = new SortedDictionary<string, string>(config.Labels?.ToDictionary() ?? [], StringComparer.Ordinal),
        Volumes = new SortedSet<string>(config.Volumes?.Keys ?? [], StringComparer.Ordinal),
        StopSignal = config.StopSignal,
        Healthcheck = config.Healthcheck is { Test: { } test } h
            ? new Planning.HealthcheckConfig(test, OciImageConfig.HealthcheckSection.FromNanoseconds(h.Interval), OciImageConfig.HealthcheckSection.FromNanoseconds(h.Timeout),
                OciImageConfig.HealthcheckSection.FromNanoseconds(h.StartPeriod), OciImageConfig.HealthcheckSection.FromNanoseconds(h.StartInterval), h.Retries)
            : null,
    };

    public static OciImageConfig ToOci(Planning.ImageConfig config)
    {
        System.Text.Json.JsonElement empty = System.Text.Json.JsonDocument.Parse("{}").RootElement;
        return new OciImageConfig
        {
            Env = config.Env.Count == 0 ? null : config.Env,
            Cmd = config.Cmd,
            Entrypoint = config.Entrypoint,
            WorkingDir = config.WorkingDir.Length == 0 ? null : config.WorkingDir,
            User = config.User.Length == 0 ? null : config.User,
            ExposedPorts = config.ExposedPorts.Count == 0 ? null : config.ExposedPorts.ToDictionary(p => p, _ => empty),
            Labels = config.Labels.Count == 0 ? null : config.Labels,
            Volumes = config.Volumes.Count == 0 ? null : config.Volumes.ToDictionary(v => v, _ => empty),
            StopSignal = config.StopSignal,
            Healthcheck = config.Healthcheck is { } h ? new OciImageConfig.HealthcheckSection
            {
                Test = h.Test,
                Interval = OciImageConfig.HealthcheckSection.ToNanoseconds(h.Interval),
                Timeout = OciImageConfig.HealthcheckSection.ToNanoseconds(h.Timeout),
                StartPeriod = OciImageConfig.HealthcheckSection.ToNanoseconds(h.StartPeriod),
                StartInterval = OciImageConfig.HealthcheckSection.ToNanoseconds(h.StartInterval),
                Retries = h.Retries,
            } : null,
        };
    }
}
