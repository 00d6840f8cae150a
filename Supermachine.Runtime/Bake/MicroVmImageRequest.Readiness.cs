using System.Text.RegularExpressions;
using Supermachine.Diagnostics;
using Supermachine.Guest.Readiness;

namespace Supermachine.Bake;

// The readiness, warmup, files-in and kernel-argument metadata of a request (issue #19): parsed
// and checked here so the SDK and the command line report the same SM23xx errors.
internal sealed partial record MicroVmImageRequest
{
    /// <summary>The request with WaitForLog, WaitForLogTimes, WaitForHttp, WaitForCommand, Warmup, WarmupTag, Files and KernelArgs read from <paramref name="metadata"/>.</summary>
    private MicroVmImageRequest WithReadinessMetadata(Func<string, string?> metadata)
    {
        string? waitForLog = metadata("WaitForLog") is { Length: > 0 } log && !string.IsNullOrWhiteSpace(log) ? log : null;
        if (waitForLog is not null)
        {
            try
            {
                _ = new Regex(waitForLog, RegexOptions.CultureInvariant);
            }
            catch (ArgumentException e)
            {
                throw Errors.InvalidWaitForLog(Reference, waitForLog, e.Message, cause: e);
            }
        }
        int? times = Integer(Reference, "WaitForLogTimes", metadata("WaitForLogTimes"), 1, 1_000_000);
        if (times is not null && waitForLog is null)
        {
            throw Errors.InvalidImageMetadata(Reference, "WaitForLogTimes", times, "used together with WaitForLog (it counts the lines WaitForLog matches)");
        }
        string? http = Blank(metadata("WaitForHttp"));
        if (http is not null && ReadinessText.ParseHttp(http) is null)
        {
            throw Errors.InvalidWaitForHttp(Reference, http);
        }
        return this with
        {
            WaitForLog = waitForLog,
            WaitForLogTimes = times,
            WaitForHttp = http,
            WaitForCommand = Blank(metadata("WaitForCommand")),
            Warmup = Blank(metadata("Warmup")),
            WarmupTag = Blank(metadata("WarmupTag")),
            Files = StagedFileSpec.ParseList(Reference, metadata("Files")),
            KernelArgs = Blank(metadata("KernelArgs")),
        };
    }

    /// <summary>What the workload must show before it counts as ready; the image's HEALTHCHECK stands in when nothing else is asked for.</summary>
    public ReadinessSpec Readiness(HealthcheckProbe? imageHealthcheck) => new()
    {
        Port = Port,
        LogPattern = WaitForLog,
        LogTimes = WaitForLogTimes ?? 1,
        Http = WaitForHttp is null ? null : ReadinessText.ParseHttp(WaitForHttp),
        Command = WaitForCommand,
        Healthcheck = imageHealthcheck,
    };
}
