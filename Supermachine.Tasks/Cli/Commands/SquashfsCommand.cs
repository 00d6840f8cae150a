using System.Diagnostics;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;
using Supermachine.Squashfs;

namespace Supermachine.Tasks.Cli.Commands;

internal static class SquashfsCommand
{
    public static readonly CommandSpec Spec = new(
        "squashfs",
        "DIR|IMAGE OUT",
        "Write a squashfs root filesystem from a directory or an image.",
        MinArguments: 2,
        MaxArguments: 2,
        Options: [
            new OptionSpec("compression", null, "gzip|zstd|xz|none", "Compressor for data and metadata (default gzip)."),
            new OptionSpec("block-size", null, "BYTES", "Data block size (default 131072).")],
        Run: RunAsync);

    /// <summary>
    /// A directory is walked as it is; anything else is an image (a registry reference or an
    /// oci-layout:/oci-archive:/docker-archive: source), pulled and flattened straight into the
    /// writer with no extracted tree.
    /// </summary>
    internal static IAsyncEnumerable<FileSystemEntry> ResolveSource(string input, CancellationToken cancellationToken) =>
        Directory.Exists(input) ? DirectoryTreeReader.ReadAsync(input, cancellationToken) : ImageEntriesAsync(input, cancellationToken);

    private static async IAsyncEnumerable<FileSystemEntry> ImageEntriesAsync(string image, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var registry = new Supermachine.Oci.Registry.RegistryClient(Supermachine.Oci.Registry.RegistryOptions.FromEnvironment());
        var puller = new Supermachine.Oci.ImagePuller(new Supermachine.Oci.Storage.ContentStore(), registry);
        Supermachine.Oci.PulledImage pulled = await puller.PullAsync(image, new Supermachine.Oci.PullOptions
        {
            Progress = new Supermachine.Oci.PullProgressSummary(line => Console.Error.WriteLine(line), TimeSpan.FromSeconds(1)),
        }, cancellationToken).ConfigureAwait(false);
        var flattener = Supermachine.Oci.Layers.LayerFlattener.For(pulled, new Supermachine.Oci.Layers.LayerFlattenerOptions { Warning = m => Console.Error.WriteLine("warning: " + m) });
        await foreach (FileSystemEntry entry in flattener.FlattenAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return entry;
        }
    }

    private static async Task<int> RunAsync(ParsedCommand command, CancellationToken cancellationToken)
    {
        string input = command.Arguments[0];
        string output = command.Arguments[1];
        SquashfsCompression compression = command.Value("compression") switch
        {
            null or "gzip" => SquashfsCompression.Gzip,
            "zstd" => SquashfsCompression.Zstd,
            "xz" => SquashfsCompression.Xz,
            "none" => SquashfsCompression.None,
            string other => throw Errors.InvalidSquashfsOption($"compression '{other}' is not one of gzip, zstd, none"),
        };
        int blockSize = SquashfsWriterOptions.DefaultBlockSize;
        if (command.Value("block-size") is string text && !int.TryParse(text, out blockSize))
        {
            throw Errors.InvalidSquashfsOption($"block size '{text}' is not a number");
        }

        var watch = Stopwatch.StartNew();
        bool interactive = !Console.IsErrorRedirected;
        var progress = new Progress(watch, interactive);
        var options = new SquashfsWriterOptions { Compression = compression, BlockSize = blockSize, Progress = progress };
        await SquashfsWriter.WriteAsync(ResolveSource(input, cancellationToken), output, options, cancellationToken);
        progress.Clear();
        Console.Error.WriteLine($"Wrote {output}: {new FileInfo(output).Length / 1024.0 / 1024.0:F1} MiB in {watch.Elapsed.TotalSeconds:F1} s.");
        return Program.Success;
    }

    /// <summary>One status line on stderr, at most every half second (the writer throttles), only after the first two seconds.</summary>
    private sealed class Progress(Stopwatch watch, bool interactive) : IProgress<SquashfsProgress>
    {
        private bool _shown;

        public void Report(SquashfsProgress value)
        {
            if (watch.Elapsed < TimeSpan.FromSeconds(2))
            {
                return;
            }
            string line = $"squashfs: {value.Phase}, {value.Entries} entries, {value.ContentBytes / 1024.0 / 1024.0:F0} MiB read, {watch.Elapsed.TotalSeconds:F0} s";
            lock (this)
            {
                if (interactive)
                {
                    Console.Error.Write("\r" + line.PadRight(79));
                }
                else
                {
                    Console.Error.WriteLine(line);
                }
                _shown = true;
            }
        }

        public void Clear()
        {
            lock (this)
            {
                if (_shown && interactive)
                {
                    Console.Error.Write("\r" + new string(' ', 79) + "\r");
                }
            }
        }
    }
}
