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
        Run: (command, cancellationToken) => NotImplemented.Run("supermachine squashfs", "squashfs writer"));
}
