using Supermachine.Guest.Staging;
using Supermachine.Images;
using Supermachine.Oci.Manifests;

namespace Supermachine.Bake;

/// <summary>
/// The readiness, warmup and files-in part of a bake's workload record (issue #19): what the bake
/// waits for and runs, written into the manifest so a cold start repeats it. Staged files are
/// copied into the image directory, where the manifest lists and hashes them.
/// </summary>
internal static class BakeWorkloadSettings
{
    public static async Task<SnapshotManifest.WorkloadRecord> RecordAsync(SnapshotManifest.WorkloadRecord record, MicroVmImageRequest request, ImageConfig config, string staging, CancellationToken cancellationToken)
    {
        var staged = new List<SnapshotManifest.StagedFileRecord>();
        for (int i = 0; i < request.Files.Count; i++)
        {
            GuestFile file = request.Files[i];
            string relative = $"{ArtifactLayout.StagedFiles}/{i}";
            Directory.CreateDirectory(Path.Combine(staging, ArtifactLayout.StagedFiles));
            await using (FileStream source = File.OpenRead(file.HostPath))
            await using (FileStream copy = File.Create(Path.Combine(staging, relative)))
            {
                await source.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
            }
            staged.Add(new SnapshotManifest.StagedFileRecord { Path = relative, GuestPath = file.GuestPath, Mode = file.Mode, Owner = file.Owner });
        }
        return record with
        {
            WaitForLog = request.WaitForLog,
            WaitForLogTimes = request.WaitForLogTimes,
            WaitForHttp = request.WaitForHttp,
            WaitForCommand = request.WaitForCommand,
            Healthcheck = HealthcheckOf(config),
            Warmup = request.Warmup,
            WarmupTag = request.WarmupTag,
            StagedFiles = staged,
        };
    }

    /// <summary>The image's HEALTHCHECK when it runs something (not NONE, not empty).</summary>
    public static SnapshotManifest.HealthcheckRecord? HealthcheckOf(ImageConfig config) =>
        config.Healthcheck is { Test: [("CMD" or "CMD-SHELL"), _, ..] test } h
            ? new SnapshotManifest.HealthcheckRecord
            {
                Test = test,
                Interval = ImageConfig.HealthcheckSection.FromNanoseconds(h.Interval),
                Timeout = ImageConfig.HealthcheckSection.FromNanoseconds(h.Timeout),
                StartPeriod = ImageConfig.HealthcheckSection.FromNanoseconds(h.StartPeriod),
                Retries = h.Retries,
            }
            : null;

    /// <summary>The progress line of the wait: "waiting for port 6379 and a log line matching 'ready' (2x)".</summary>
    public static string DescribeWait(SnapshotManifest.WorkloadRecord record)
    {
        var parts = new List<string>();
        if (record.Port is int port)
        {
            parts.Add($"port {port}");
        }
        if (record.WaitForLog is string log)
        {
            parts.Add($"a log line matching '{log}'" + (record.WaitForLogTimes is int n and > 1 ? $" ({n}x)" : ""));
        }
        if (record.WaitForHttp is string http)
        {
            parts.Add($"HTTP 2xx from {http}");
        }
        if (record.WaitForCommand is string command)
        {
            parts.Add($"'{command}' to exit 0");
        }
        if (parts.Count == 0 && record.Healthcheck is { } h)
        {
            parts.Add($"the image's HEALTHCHECK ({string.Join(' ', h.Test.Skip(1))})");
        }
        string wait = parts.Count == 0 ? "starting the workload" : "waiting for " + string.Join(" and ", parts);
        return record.Warmup is null ? wait : wait + ", then the warmup";
    }
}
