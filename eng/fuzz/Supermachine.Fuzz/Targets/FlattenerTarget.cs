using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Supermachine.Oci.Layers;

namespace Supermachine.Fuzz.Targets;

/// <summary>
/// Layer blobs (tar, gzip or zstd) through the OCI layer flattener: every surviving entry is
/// listed and every file's content read. An input holds one layer, or several separated by
/// <see cref="LayerSeparator"/>, so whiteouts and hard links can cross layers.
/// </summary>
internal sealed class FlattenerTarget : IFuzzTarget
{
    public static readonly byte[] LayerSeparator = "\n--SMLAYER--\n"u8.ToArray();

    public string Name => "flattener";

    public void Run(byte[] input)
    {
        // A small cap keeps a decompression bomb from turning into a slow iteration.
        var options = new LayerFlattenerOptions { MaxLayerBytes = 8 << 20, Warning = _ => { } };
        LayerFlattener.ReadAllAsync(Split(input), options).GetAwaiter().GetResult();
    }

    private static List<byte[]> Split(byte[] input)
    {
        var blobs = new List<byte[]>();
        ReadOnlySpan<byte> rest = input;
        int at;
        while (blobs.Count < 7 && (at = rest.IndexOf(LayerSeparator)) >= 0)
        {
            blobs.Add(rest[..at].ToArray());
            rest = rest[(at + LayerSeparator.Length)..];
        }
        blobs.Add(rest.ToArray());
        return blobs;
    }

    public IEnumerable<(string Name, byte[] Content)> Seeds()
    {
        byte[] basic = Tar(TarEntryFormat.Pax, w =>
        {
            Dir(w, "etc/");
            Add(w, "etc/hosts", "127.0.0.1 localhost\n");
            Add(w, "bin/sh", "#!/bin/sh\n", mode: UnixFileMode.UserExecute | UnixFileMode.UserRead);
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/bash") { LinkName = "sh" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "bin/sh2") { LinkName = "bin/sh" });
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "a/" + new string('d', 120) + "/", new Dictionary<string, string> { ["SCHILY.xattr.user.k"] = "v" }));
        });
        yield return ("basic.tar", basic);
        byte[] upper = Tar(TarEntryFormat.Gnu, w =>
        {
            Add(w, "etc/.wh.hosts", "");
            Add(w, "a/.wh..wh..opq", "");
            Add(w, "a/new", "n");
            Add(w, "bin/sh", "replaced");
        });
        yield return ("whiteouts.tar", [.. basic, .. LayerSeparator, .. upper]);
        yield return ("ustar.tar", Tar(TarEntryFormat.Ustar, w => { Dir(w, "x/"); Add(w, "x/y", "z"); }));
        yield return ("gzip.tar.gz", Gzip(basic));
    }

    private static byte[] Tar(TarEntryFormat format, Action<TarWriter> write)
    {
        var output = new MemoryStream();
        using (var writer = new TarWriter(output, format, leaveOpen: true))
        {
            write(writer);
        }
        return output.ToArray();
    }

    private static void Dir(TarWriter writer, string name) =>
        writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)0x1ed });

    private static void Add(TarWriter writer, string name, string content, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        TarEntry entry = writer.Format switch
        {
            TarEntryFormat.Gnu => new GnuTarEntry(TarEntryType.RegularFile, name),
            TarEntryFormat.Ustar => new UstarTarEntry(TarEntryType.RegularFile, name),
            _ => new PaxTarEntry(TarEntryType.RegularFile, name),
        };
        entry.Mode = mode;
        entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content));
        writer.WriteEntry(entry);
    }

    private static byte[] Gzip(byte[] data)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }
}
