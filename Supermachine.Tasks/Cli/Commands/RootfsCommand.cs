using System.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Oci;
using Supermachine.Oci.Layers;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.Registry;
using Supermachine.Oci.Storage;

namespace Supermachine.Tasks.Cli.Commands;

internal static class RootfsCommand
{
    public static readonly CommandSpec Spec = new(
        "rootfs",
        "IMAGE DIR",
        "Pull IMAGE and write its flattened root filesystem to DIR (new or empty unless --force).",
        MinArguments: 2,
        MaxArguments: 2,
        Options:
        [
            new OptionSpec("platform", null, "OS/ARCH[/VARIANT]", "Platform to pick from a multi-platform image (default: linux on this machine's architecture)."),
            new OptionSpec("force", null, null, "Write into DIR even when it is not empty (the image's files replace same-named ones)."),
            new OptionSpec("preserve-devices", null, null, "Create the image's device nodes (as root) and keep setuid/setgid bits; by default they are skipped with a warning."),
        ],
        Run: RunAsync);

    private static async Task<int> RunAsync(ParsedCommand command, CancellationToken cancellationToken)
    {
        string image = command.Arguments[0];
        string directory = command.Arguments[1];
        // Checked before the pull: a refused directory should not cost a download.
        DirectoryTreeWriter.EnsureEmptyTarget(directory, allowNonEmpty: command.Has("force"));
        var clock = Stopwatch.StartNew();
        using var registry = new RegistryClient(RegistryOptions.FromEnvironment());
        var puller = new ImagePuller(new ContentStore(), registry);
        var progress = new PullProgressSummary(line => Console.Error.Write("\r" + line + "   "), TimeSpan.FromMilliseconds(200));
        PulledImage pulled = await puller.PullAsync(image, new PullOptions
        {
            Platform = command.Value("platform") is string p ? Platform.Parse(p) : null,
            Progress = progress,
        }, cancellationToken).ConfigureAwait(false);
        Console.Error.WriteLine();
        Console.Error.WriteLine($"pulled {pulled.Source} {pulled.ManifestDigest} ({pulled.Layers.Count} layers, {pulled.Platform}) in {clock.Elapsed.TotalSeconds:F1}s");

        clock.Restart();
        Action<string> warn = message => Console.Error.WriteLine("warning: " + message);
        var flattener = LayerFlattener.For(pulled, new LayerFlattenerOptions { Warning = warn });
        int written = await DirectoryTreeWriter.WriteAsync(flattener.FlattenAsync(cancellationToken), directory, new DirectoryTreeWriterOptions { Warning = warn, PreserveDevices = command.Has("preserve-devices") }, cancellationToken).ConfigureAwait(false);
        Console.Error.WriteLine($"wrote {written} entries to {directory} in {clock.Elapsed.TotalSeconds:F1}s");
        return 0;
    }
}
