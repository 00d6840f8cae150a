using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Squashfs;

/// <summary>
/// Writes squashfs 4.0 images the Linux kernel mounts, in process (no mksquashfs needed).
/// </summary>
/// <remarks>
/// <para>Entries may arrive in any order, as an OCI flattener yields them layer by layer. A later
/// entry for a path replaces an earlier one (two directories merge: the later metadata wins, the
/// children stay). Parent directories never given are created with mode 0755, owner 0:0 and mtime 0.
/// Hard links are resolved once the stream has ended.</para>
/// <para>The output is deterministic: the same set of entries gives the same bytes whatever their
/// order, thread timing or the wall clock. Content is read when its entry arrives and compressed on
/// all cores straight into the output. When the entries arrived in the image's own order (depth
/// first, names sorted by their bytes, as <see cref="DirectoryTreeReader"/> walks) that is the
/// final layout; otherwise the blocks are laid out again in that order at the end.</para>
/// <para>The image is written to a temporary file beside <c>outputPath</c> and renamed over it at
/// the end; on failure or cancellation nothing is left there.</para>
/// </remarks>
internal static class SquashfsWriter
{
    /// <summary>Writes the image of <paramref name="entries"/> to <paramref name="outputPath"/>.</summary>
    public static async Task WriteAsync(
        IAsyncEnumerable<FileSystemEntry> entries,
        string outputPath,
        SquashfsWriterOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        options ??= new SquashfsWriterOptions();
        Validate(options);

        string output = Path.GetFullPath(outputPath);
        string directory = Path.GetDirectoryName(output)!;
        string temp = Path.Combine(directory, $".{Path.GetFileName(output)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var builder = new ImageBuilder(options, temp))
            {
                await foreach (FileSystemEntry entry in entries.WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    await builder.AddAsync(entry, cancellationToken).ConfigureAwait(false);
                }
                await builder.FinishAsync(cancellationToken).ConfigureAwait(false);
            }
            File.Move(temp, output, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Errors.SquashfsWriteFailed(output, e.Message, cause: e);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <summary>Writes the image of the directory tree at <paramref name="directory"/> (see <see cref="DirectoryTreeReader"/>).</summary>
    public static Task WriteDirectoryAsync(
        string directory,
        string outputPath,
        SquashfsWriterOptions? options = null,
        CancellationToken cancellationToken = default) =>
        WriteAsync(DirectoryTreeReader.ReadAsync(directory, cancellationToken), outputPath, options, cancellationToken);

    private static void Validate(SquashfsWriterOptions options)
    {
        int b = options.BlockSize;
        if (b < 4096 || b > 1024 * 1024 || (b & (b - 1)) != 0)
        {
            throw Errors.InvalidSquashfsOption($"block size {b} is not a power of two from 4096 to 1048576");
        }
        if (options.ModificationTime is < 0 or > uint.MaxValue)
        {
            throw Errors.InvalidSquashfsOption($"modification time {options.ModificationTime} is outside 0..{uint.MaxValue}");
        }
        if (options.MaxDegreeOfParallelism < 1)
        {
            throw Errors.InvalidSquashfsOption("the degree of parallelism must be at least 1");
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
