using System.Text;
using Supermachine.FileSystem;
using Supermachine.Squashfs;

namespace Supermachine.Fuzz.Targets;

/// <summary>
/// Squashfs images through <see cref="SquashfsReader"/>: open, list every entry, read every
/// file's content (capped per input) and attributes. Seeds are small images our own
/// <see cref="SquashfsWriter"/> makes, so mutations start from what the reader meets in practice.
/// </summary>
internal sealed class SquashfsTarget : IFuzzTarget
{
    private const long ContentCap = 16 << 20;

    public string Name => "squashfs";

    public void Run(byte[] input)
    {
        string path = Scratch.File("image.sqfs");
        File.WriteAllBytes(path, input);
        using SquashfsReader reader = SquashfsReader.Open(path);
        long budget = ContentCap;
        foreach (FileSystemEntry entry in reader.ReadEntries())
        {
            _ = entry.ExtendedAttributes.Count;
            if (entry.OpenContent is { } open && budget > 0)
            {
                using Stream content = open();
                byte[] buffer = new byte[64 * 1024];
                int n;
                while (budget > 0 && (n = content.Read(buffer, 0, (int)Math.Min(buffer.Length, budget))) > 0)
                {
                    budget -= n;
                }
            }
        }
    }

    public IEnumerable<(string Name, byte[] Content)> Seeds()
    {
        foreach (SquashfsCompression compression in new[] { SquashfsCompression.Gzip, SquashfsCompression.Zstd, SquashfsCompression.None })
        {
            yield return ($"tree-{compression}.sqfs".ToLowerInvariant(), Image(compression, alwaysFragments: false));
        }
        yield return ("fragments.sqfs", Image(SquashfsCompression.Gzip, alwaysFragments: true));
    }

    private static byte[] Image(SquashfsCompression compression, bool alwaysFragments)
    {
        string path = Scratch.File($"seed-{Guid.NewGuid():N}.sqfs");
        var options = new SquashfsWriterOptions
        {
            Compression = compression,
            BlockSize = 4096,
            ModificationTime = 1_700_000_000,
            AlwaysUseFragments = alwaysFragments,
            MaxDegreeOfParallelism = 1,
        };
        SquashfsWriter.WriteAsync(Entries().ToAsyncEnumerable(), path, options).GetAwaiter().GetResult();
        byte[] image = File.ReadAllBytes(path);
        File.Delete(path);
        return image;
    }

    private static IEnumerable<FileSystemEntry> Entries()
    {
        FileSystemEntry Dir(string p) => new() { Path = p, Type = FileSystemEntryType.Directory, Mode = 0x1ed };
        FileSystemEntry Data(string p, byte[] content) => new()
        {
            Path = p,
            Type = FileSystemEntryType.RegularFile,
            Mode = 0x1a4,
            Size = content.Length,
            OpenContent = () => new MemoryStream(content),
        };
        yield return Dir("");
        yield return Dir("etc") with { ExtendedAttributes = new Dictionary<string, byte[]> { ["user.k"] = "v"u8.ToArray() } };
        yield return Data("etc/hosts", "127.0.0.1 localhost\n"u8.ToArray());
        // Two blocks and a tail: exercises the block list and a fragment.
        yield return Data("etc/big", Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 2000).Select(i => $"{i:x4}\n")))[..9000]);
        yield return Data("etc/zeros", new byte[8192]);
        yield return new FileSystemEntry { Path = "etc/link", Type = FileSystemEntryType.HardLink, LinkTarget = "etc/hosts" };
        yield return new FileSystemEntry { Path = "etc/sym", Type = FileSystemEntryType.Symlink, Mode = 0x1ff, LinkTarget = "hosts" };
        yield return new FileSystemEntry { Path = "null", Type = FileSystemEntryType.CharacterDevice, Mode = 0x1b6, DeviceMajor = 1, DeviceMinor = 3 };
        yield return new FileSystemEntry { Path = "fifo", Type = FileSystemEntryType.Fifo, Mode = 0x1a4 };
    }
}
