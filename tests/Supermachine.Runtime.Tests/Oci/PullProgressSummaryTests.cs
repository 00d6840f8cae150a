using Supermachine.Bake;
using Supermachine.Oci;

namespace Supermachine.Tests.Oci;

/// <summary>The pull lines a build shows: layers to download only, a rate, one closing line, silence for a cached image.</summary>
public class PullProgressSummaryTests
{
    private static List<string> Replay(params PullProgress[] reports)
    {
        var lines = new List<string>();
        var summary = new PullProgressSummary(lines.Add, TimeSpan.FromHours(1));
        foreach (PullProgress report in reports)
        {
            summary.Report(report);
        }
        return lines;
    }

    [Fact]
    public void A_one_layer_image_reports_its_layer_not_its_config()
    {
        // The order ImagePuller reports in: the config first, then the layer announced, fetched, done.
        List<string> lines = Replay(
            new("sha256:c", "config", 1500, 1500),
            new("sha256:l", "layer", 0, 3 * 1048576),
            new("sha256:l", "layer", 1048576, 3 * 1048576),
            new("sha256:l", "layer", 3 * 1048576, 3 * 1048576));
        Assert.Equal(2, lines.Count);
        Assert.Matches(@"^pulling 1\.0/3\.0 MiB at [0-9.]+ MiB/s \(0/1 layer\)$", lines[0]);
        Assert.Matches(@"^pulled 3\.0 MiB in [0-9.]+ s \([0-9.]+ MiB/s, 1 layer\)$", lines[1]);
        Assert.DoesNotContain(lines, l => l.Contains("0.0/0.0", StringComparison.Ordinal));
    }

    [Fact]
    public void Cached_layers_are_not_counted_and_a_fully_cached_pull_says_nothing()
    {
        List<string> partly = Replay(
            new("sha256:a", "layer", 1048576, 1048576),
            new("sha256:b", "layer", 0, 2 * 1048576),
            new("sha256:a", "layer", 1048576, 1048576),
            new("sha256:b", "layer", 2 * 1048576, 2 * 1048576));
        Assert.Equal(["pulled 2.0 MiB"], partly.Select(l => l[..l.IndexOf(" in ", StringComparison.Ordinal)]));

        Assert.Empty(Replay(
            new("sha256:c", "config", 10, 10),
            new("sha256:a", "layer", 5, 5),
            new("sha256:a", "layer", 5, 5)));
    }

    [Fact]
    public void A_bake_summary_names_every_phase_it_timed()
    {
        var clock = new BakePhaseClock();
        clock.End("pull");
        clock.Begin();
        clock.End("rootfs");
        Assert.Matches(@"^baked in [0-9]+\.[0-9] s \(pull [0-9]+\.[0-9], rootfs [0-9]+\.[0-9]\)$", clock.Summary("baked"));
    }
}
