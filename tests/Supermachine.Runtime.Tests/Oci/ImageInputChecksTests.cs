using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Oci;
using Supermachine.Oci.References;

namespace Supermachine.Tests.Oci;

/// <summary>
/// What a pull refuses before anything runs: missing local paths, descriptors with negative sizes,
/// empty indexes, and image configs whose diff_ids do not describe the layers. Each on a small
/// OCI layout written by the test.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ImageInputChecksTests : IDisposable
{
    private readonly OciScratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private static byte[] GzipTar(string name, string content)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) });
        }
        var gz = new MemoryStream();
        using (var g = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            g.Write(tar.ToArray());
        }
        return gz.ToArray();
    }

    private static byte[] Gunzip(byte[] gz)
    {
        using var output = new MemoryStream();
        using (var g = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress))
        {
            g.CopyTo(output);
        }
        return output.ToArray();
    }

    /// <summary>An OCI layout of one image whose config, manifest and index the test may alter; returns its directory.</summary>
    private string Layout(byte[] layer, string? diffIds = null, long? layerSize = null, string? index = null)
    {
        string dir = Path.Combine(_scratch.Root, "layout-" + Guid.NewGuid().ToString("N")[..8]);
        string blobs = Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256")).FullName;
        string Put(byte[] bytes)
        {
            string digest = OciDigest.Compute(bytes);
            File.WriteAllBytes(Path.Combine(blobs, OciDigest.Hex(digest)), bytes);
            return digest;
        }
        string layerDigest = Put(layer);
        diffIds ??= $"[\"{OciDigest.Compute(Gunzip(layer))}\"]";
        byte[] config = Encoding.UTF8.GetBytes("""{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":""" + diffIds + "}}");
        string configDigest = Put(config);
        byte[] manifest = Encoding.UTF8.GetBytes($$"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{configDigest}}","size":{{config.Length}}},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{layerDigest}}","size":{{layerSize ?? layer.Length}}}]}
            """);
        string manifestDigest = Put(manifest);
        index ??= $$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{manifestDigest}}","size":{{manifest.Length}}}]}""";
        File.WriteAllText(Path.Combine(dir, "index.json"), index);
        File.WriteAllText(Path.Combine(dir, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        return dir;
    }

    private async Task<SupermachineException> PullFailsAsync(string image) =>
        await Assert.ThrowsAsync<SupermachineException>(() => _scratch.Puller().PullAsync(image));

    [Fact]
    public async Task A_consistent_layout_pulls_and_flattens()
    {
        PulledImage image = await _scratch.Puller().PullAsync("oci-layout:" + Layout(GzipTar("hello", "world")));
        string root = await _scratch.WriteRootfsAsync(image, "root");
        Assert.Equal("world", File.ReadAllText(Path.Combine(root, "hello")));
    }

    [Fact]
    public async Task A_missing_local_path_is_SM2020_naming_it_not_an_invalid_reference()
    {
        string missing = Path.Combine(_scratch.Root, "no-such-thing");
        foreach (string source in new[] { "oci-layout:" + missing, "oci-layout:" + missing + ":tag", "oci-archive:" + missing + ".tar", "docker-archive:" + missing + ".tar" })
        {
            SupermachineException ex = await PullFailsAsync(source);
            Assert.Equal("SM2020", ex.Code);
            Assert.Contains($"'{missing}", ex.Message);
        }
        // An archive form given a directory says so.
        SupermachineException dir = await PullFailsAsync("oci-archive:" + _scratch.Root);
        Assert.Equal("SM2020", dir.Code);
        Assert.Contains("it is a directory", dir.Message);
    }

    [Fact]
    public async Task A_path_without_a_source_prefix_is_SM2021_suggesting_the_forms()
    {
        foreach (string path in new[] { "/nonexistent/layout", "./missing-layout", "../x/image.tar", "missing.tar" })
        {
            SupermachineException ex = await PullFailsAsync(path);
            Assert.Equal("SM2021", ex.Code);
            Assert.Contains($"'{path}'", ex.Message);
            Assert.Contains("oci-layout:", ex.Message);
        }
        SupermachineException existing = await PullFailsAsync(_scratch.Root);
        Assert.Equal("SM2021", existing.Code);
        Assert.Contains("is a directory", existing.Message);
    }

    [Fact]
    public async Task An_empty_index_says_it_offers_no_platforms()
    {
        SupermachineException ex = await PullFailsAsync("oci-layout:" + Layout(GzipTar("a", "b"), index: """{"schemaVersion":2,"manifests":[]}"""));
        Assert.Equal("SM2023", ex.Code);
        Assert.Contains("no platforms", ex.Message);
        Assert.DoesNotContain("offers: .", ex.Message);
    }

    [Fact]
    public async Task Negative_descriptor_sizes_are_refused()
    {
        SupermachineException layer = await PullFailsAsync("oci-layout:" + Layout(GzipTar("a", "b"), layerSize: -1));
        Assert.Equal("SM2005", layer.Code);
        Assert.Contains("negative size -1", layer.Message);
        Assert.Contains("layer 1", layer.Message);

        string index = """{"schemaVersion":2,"manifests":[{"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":-5},{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":1}]}""";
        SupermachineException entry = await PullFailsAsync("oci-layout:" + Layout(GzipTar("a", "b"), index: index));
        Assert.Equal("SM2005", entry.Code);
        Assert.Contains("negative size -5", entry.Message);
    }

    [Fact]
    public async Task Diff_ids_that_do_not_count_the_layers_are_refused()
    {
        byte[] layer = GzipTar("a", "b");
        string id = OciDigest.Compute(Gunzip(layer));
        SupermachineException two = await PullFailsAsync("oci-layout:" + Layout(layer, diffIds: $"[\"{id}\",\"{id}\"]"));
        Assert.Equal("SM2005", two.Code);
        Assert.Contains("diff_ids lists 2 layers where the manifest has 1", two.Message);
        SupermachineException none = await PullFailsAsync("oci-layout:" + Layout(layer, diffIds: "[]"));
        Assert.Equal("SM2005", none.Code);
        SupermachineException bad = await PullFailsAsync("oci-layout:" + Layout(layer, diffIds: "[\"md5:abc\"]"));
        Assert.Equal("SM2005", bad.Code);
        Assert.Contains("md5:abc", bad.Message);
    }

    [Fact]
    public async Task A_layer_that_decompresses_to_other_content_than_its_diff_id_is_SM2022()
    {
        byte[] layer = GzipTar("a", "b");
        string other = OciDigest.Compute(Gunzip(GzipTar("a", "c")));
        PulledImage image = await _scratch.Puller().PullAsync("oci-layout:" + Layout(layer, diffIds: $"[\"{other}\"]"));
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => _scratch.WriteRootfsAsync(image, "root"));
        Assert.Equal("SM2022", ex.Code);
        Assert.Contains(other, ex.Message);
        Assert.Contains(OciDigest.Compute(Gunzip(layer)), ex.Message);
    }
}
