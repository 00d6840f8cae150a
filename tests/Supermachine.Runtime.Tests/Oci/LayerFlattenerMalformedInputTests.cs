using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Oci.Layers;

namespace Supermachine.Tests.Oci;

/// <summary>
/// The flattener on broken bytes, the way a fuzzer feeds it (<see cref="LayerFlattener.ReadAllAsync"/>):
/// truncated, bit-flipped, header-forged and random tar, gzip and zstd streams. Whatever the bytes,
/// the only exception that may escape is a SupermachineException with an SM2xxx code.
/// </summary>
public sealed class LayerFlattenerMalformedInputTests
{
    // Tar formats, entry types and features the flattener handles, in one archive each.
    private static byte[] SampleTar(TarEntryFormat format, int variant)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, format, leaveOpen: true))
        {
            writer.WriteEntry(Entry(format, TarEntryType.Directory, "dir/"));
            writer.WriteEntry(Entry(format, format == TarEntryFormat.V7 ? TarEntryType.V7RegularFile : TarEntryType.RegularFile, "dir/file", new string('x', 700 + variant)));
            writer.WriteEntry(Entry(format, TarEntryType.SymbolicLink, "dir/link", link: "../etc/passwd"));
            writer.WriteEntry(Entry(format, TarEntryType.HardLink, "dir/hard", link: "dir/file"));
            if (format is TarEntryFormat.Pax or TarEntryFormat.Gnu)
            {
                writer.WriteEntry(Entry(format, TarEntryType.RegularFile, "dir/" + new string('n', 150 + variant) + "/long", "long name"));
            }
            writer.WriteEntry(Entry(format, format == TarEntryFormat.V7 ? TarEntryType.V7RegularFile : TarEntryType.RegularFile, "dir/.wh.gone", ""));
            if (format == TarEntryFormat.Pax)
            {
                var pax = new PaxTarEntry(TarEntryType.RegularFile, "cap", new Dictionary<string, string> { ["SCHILY.xattr.security.capability"] = "\u0001\u0002" })
                {
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes("with xattrs")),
                };
                writer.WriteEntry(pax);
                writer.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "fifo"));
            }
        }
        return tar.ToArray();
    }

    private static TarEntry Entry(TarEntryFormat format, TarEntryType type, string name, string? content = null, string? link = null)
    {
        TarEntry entry = format switch
        {
            TarEntryFormat.V7 => new V7TarEntry(type, name),
            TarEntryFormat.Ustar => new UstarTarEntry(type, name),
            TarEntryFormat.Gnu => new GnuTarEntry(type, name),
            _ => new PaxTarEntry(type, name),
        };
        if (content is not null)
        {
            entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content));
        }
        if (link is not null)
        {
            entry.LinkName = link;
        }
        return entry;
    }

    private static byte[] Gzip(byte[] bytes)
    {
        var gz = new MemoryStream();
        using (var g = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            g.Write(bytes);
        }
        return gz.ToArray();
    }

    // Writes a number into a header field and fixes the checksum, so the reader gets past it and trips on the value.
    private static byte[] ForgeHeader(byte[] tar, int headerOffset, int field, int length, byte[] value)
    {
        byte[] copy = (byte[])tar.Clone();
        Array.Clear(copy, headerOffset + field, length);
        value.AsSpan(0, Math.Min(length, value.Length)).CopyTo(copy.AsSpan(headerOffset + field));
        copy.AsSpan(headerOffset + 148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in copy.AsSpan(headerOffset, 512))
        {
            sum += b;
        }
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(copy, headerOffset + 148);
        return copy;
    }

    // A header block is one whose checksum field matches its bytes (the field itself counted as spaces).
    private static bool IsHeader(byte[] tar, int offset)
    {
        string field = Encoding.ASCII.GetString(tar, offset + 148, 8).Trim('\0', ' ');
        int sum = 0;
        for (int i = 0; i < 512; i++)
        {
            sum += i is >= 148 and < 156 ? ' ' : tar[offset + i];
        }
        return field.Length > 0 && field.All(c => c is >= '0' and <= '7') && Convert.ToInt32(field, 8) == sum;
    }

    private static IEnumerable<(string Name, byte[][] Layers)> Cases()
    {
        var random = new Random(12);
        var tars = new List<(string, byte[])>();
        foreach (TarEntryFormat format in new[] { TarEntryFormat.V7, TarEntryFormat.Ustar, TarEntryFormat.Gnu, TarEntryFormat.Pax })
        {
            tars.Add((format.ToString(), SampleTar(format, 0)));
        }
        foreach (var (name, tar) in tars)
        {
            byte[] gz = Gzip(tar);
            byte[] zst = LayerFlattenerTests.ZstdCompress(tar);
            yield return ($"{name} intact", [tar]);
            foreach (var (kind, blob) in new[] { ("tar", tar), ("gzip", gz), ("zstd", zst) })
            {
                for (int cut = 1; cut < blob.Length; cut += Math.Max(1, blob.Length / 60))
                {
                    yield return ($"{name} {kind} truncated at {cut}", [blob[..cut]]);
                }
                for (int i = 0; i < 60; i++)
                {
                    byte[] flipped = (byte[])blob.Clone();
                    int at = random.Next(blob.Length);
                    flipped[at] ^= (byte)(1 << random.Next(8));
                    yield return ($"{name} {kind} bit flip at {at}", [flipped]);
                }
            }
            // Every field of every header, forged with each value and a checksum that matches.
            var fields = new (int Offset, int Length)[] { (0, 100), (100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (156, 1), (157, 100), (257, 8), (329, 8), (337, 8), (345, 155) };
            byte[][] values =
            [
                Encoding.ASCII.GetBytes("77777777777777777777"), Encoding.ASCII.GetBytes("-1"), Encoding.ASCII.GetBytes("zz"),
                [0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                Encoding.ASCII.GetBytes("../../x"), Encoding.ASCII.GetBytes("/abs"), [0], Encoding.ASCII.GetBytes("x"), Encoding.ASCII.GetBytes("L"),
                Encoding.ASCII.GetBytes("K"), Encoding.ASCII.GetBytes("g"), Encoding.ASCII.GetBytes("S"), Encoding.ASCII.GetBytes("ustar\0"),
            ];
            for (int header = 0; header + 512 <= tar.Length; header += 512)
            {
                if (!IsHeader(tar, header))
                {
                    continue;
                }
                foreach (var (offset, length) in fields)
                {
                    for (int v = 0; v < values.Length; v++)
                    {
                        yield return ($"{name} header {header} field {offset} forged with value {v}", [ForgeHeader(tar, header, offset, length, values[v])]);
                    }
                }
            }
        }
        // PAX records that lie about their lengths or end early.
        foreach (string record in new[] { "4 a=", "5 a=\n", "99999999999 path=x\n", "-3 path=x\n", "12 size=-100\n", "20 size=99999999999999\n", "8 path=\n", "0 x=y\n", "30 SCHILY.xattr.user.a=\n" })
        {
            var tar = new MemoryStream();
            using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "placeholder") { DataStream = new MemoryStream([1, 2, 3]) });
            }
            byte[] bytes = tar.ToArray();
            // Replace the PAX data block of the first (extended-attributes) header with the record.
            byte[] forged = ForgeHeader(bytes, 0, 124, 12, Encoding.ASCII.GetBytes(Convert.ToString(record.Length, 8).PadLeft(11, '0')));
            Array.Clear(forged, 512, 512);
            Encoding.ASCII.GetBytes(record).CopyTo(forged, 512);
            yield return ($"pax record '{record.Trim()}'", [forged]);
        }
        for (int i = 0; i < 40; i++)
        {
            byte[] garbage = new byte[random.Next(0, 4000)];
            random.NextBytes(garbage);
            yield return ($"garbage {i} ({garbage.Length} bytes)", [garbage]);
            byte[] gzipMagic = [0x1f, 0x8b, .. garbage];
            yield return ($"gzip magic then garbage {i}", [gzipMagic]);
            byte[] zstdMagic = [0x28, 0xb5, 0x2f, 0xfd, .. garbage];
            yield return ($"zstd magic then garbage {i}", [zstdMagic]);
            yield return ($"gzip of garbage {i}", [Gzip(garbage)]);
        }
        // Broken layers stacked on good ones, so whiteouts and cross-layer hard links meet bad input.
        byte[] good = SampleTar(TarEntryFormat.Pax, 1);
        yield return ("good, then empty", [good, []]);
        yield return ("good, then truncated gzip", [Gzip(good), Gzip(good)[..40]]);
        yield return ("good, then good", [good, Gzip(SampleTar(TarEntryFormat.Gnu, 2))]);
    }

    [Fact]
    public async Task Malformed_tar_gzip_and_zstd_streams_fail_only_with_SM2_errors()
    {
        var escaped = new List<string>();
        int cases = 0, refused = 0;
        foreach (var (name, layers) in Cases())
        {
            cases++;
            try
            {
                await LayerFlattener.ReadAllAsync(layers, new LayerFlattenerOptions { MaxLayerBytes = 1 << 20, Warning = _ => { } });
            }
            catch (SupermachineException ex) when (ex.Code.StartsWith("SM2", StringComparison.Ordinal))
            {
                refused++;
                if (ex.Code == "SM2014")
                {
                    Assert.DoesNotContain("..", ex.Message);
                }
            }
            catch (Exception ex)
            {
                escaped.Add($"{name}: {ex.GetType().Name}: {ex.Message}");
            }
        }
        Assert.True(escaped.Count == 0, $"{escaped.Count} of {cases} cases escaped without an SM2 error:\n" + string.Join("\n", escaped.Take(40)));
        // The corpus really reaches the failure paths, and really includes inputs that flatten.
        Assert.True(refused > cases / 3, $"only {refused} of {cases} cases were refused");
        Assert.True(refused < cases, "no case flattened");
        Assert.True(cases > 3000, $"only {cases} cases");
    }

    [Fact]
    public async Task A_truncated_layer_is_SM2014_without_a_doubled_full_stop()
    {
        byte[] tar = SampleTar(TarEntryFormat.Pax, 0);
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => LayerFlattener.ReadAllAsync([Gzip(tar)[..100]]));
        Assert.Equal("SM2014", ex.Code);
        Assert.DoesNotContain("..", ex.Message);
    }
}
