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
            new OptionSpec("compression", null, "gzip|zstd|none", "Compressor for data and metadata (default gzip)."),
            new OptionSpec("block-size", null, "BYTES", "Data block size (default 131072).")],
        Run: RunAsync);

    /// <summary>
    /// Where the entries come from. A directory today; the lead plugs image references in here
    /// (any IAsyncEnumerable of entries works, e.g. the OCI flattener's stream).
    /// </summary>
    internal static Func<string, CancellationToken, IAsyncEnumerable<FileSystemEntry>> ResolveSource { get; set; } = (input, cancellationToken) =>
        Directory.Exists(input)
            ? DirectoryTreeReader.ReadAsync(input, cancellationToken)
            : throw Diagnostic.Error("SM2109", Path.GetFullPath(input), "it is not a directory (image references arrive with the OCI issue)");

    private static async Task<int> RunAsync(ParsedCommand command, CancellationToken cancellationToken)
    {
        string input = command.Arguments[0];
        string output = command.Arguments[1];
        SquashfsCompression compression = command.Value("compression") switch
        {
            null or "gzip" => SquashfsCompression.Gzip,
            "zstd" => SquashfsCompression.Zstd,
            "none" => SquashfsCompression.None,
            string other => throw Diagnostic.Error("SM2110", $"compression '{other}' is not one of gzip, zstd, none"),
        };
        int blockSize = SquashfsWriterOptions.DefaultBlockSize;
        if (command.Value("block-size") is string text && !int.TryParse(text, out blockSize))
        {
            throw Diagnostic.Error("SM2110", $"block size '{text}' is not a number");
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
