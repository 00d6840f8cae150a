using System.Formats.Tar;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Oci;
using Supermachine.Oci.Manifests;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>
/// Every local source flattened and compared entry by entry with <c>umoci unpack</c> of the same
/// image: path, type, mode, owner, size, content hash, link target, device, hard-link group, mtime.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class ImageSourceTests
{
    [RequiresRootFact("umoci", "skopeo")]
    public async Task Every_flattening_case_matches_umoci()
    {
        using var scratch = new OciScratch();
        PulledImage image = await scratch.Puller().PullAsync($"oci-layout:{OciTestFixtures.Layout}:flatten");
        Assert.Equal(4, image.Layers.Count);
        string ours = await scratch.WriteRootfsAsync(image, "ours");
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "flatten")), TreeSnapshot.Of(ours));

        // The cases are really there, not just equal by accident.
        Assert.False(File.Exists(Path.Combine(ours, "data/owned")));               // whiteout
        Assert.False(Directory.Exists(Path.Combine(ours, "data/removed-dir")));     // whiteout of a directory
        Assert.Equal(["new"], Directory.GetFileSystemEntries(Path.Combine(ours, "opaque")).Select(Path.GetFileName)); // opaque
        Assert.True(File.Exists(Path.Combine(ours, "data/dir-to-file")));           // directory replaced by a file
        Assert.True(File.Exists(Path.Combine(ours, "data/file-to-dir/inside")));    // file replaced by a directory
        Assert.Equal("replaced in the top layer\n", File.ReadAllText(Path.Combine(ours, "data/plain.txt")));
        Assert.Equal(UnixFileMode.SetUser, File.GetUnixFileMode(Path.Combine(ours, "data/setuid")) & UnixFileMode.SetUser);
        Assert.Equal(UnixFileMode.StickyBit, File.GetUnixFileMode(Path.Combine(ours, "data/sticky")) & UnixFileMode.StickyBit);
        Assert.Empty(scratch.Warnings);
    }

    [RequiresRootFact("umoci", "skopeo")]
    public async Task Redis_from_an_oci_layout_matches_umoci_and_has_its_config()
    {
        using var scratch = new OciScratch();
        PulledImage image = await scratch.Puller().PullAsync($"oci-layout:{OciTestFixtures.Layout}:redis");
        Assert.Equal(3, image.Layers.Count);
        Assert.Equal(["redis-server", "--protected-mode", "no"], image.Config.Config.Cmd);
        Assert.Equal("redis", image.Config.Config.User);
        Assert.Equal([6379], image.Config.Config.ExposedTcpPorts);
        string ours = await scratch.WriteRootfsAsync(image, "ours");
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "redis")), TreeSnapshot.Of(ours));
        Assert.Contains("redis:x:999:999", File.ReadAllText(Path.Combine(ours, "etc/passwd")));
    }

    [RequiresRootFact("umoci", "skopeo")]
    public async Task Oci_archive_matches_umoci_of_the_same_image()
    {
        using var scratch = new OciScratch();
        PulledImage image = await scratch.Puller().PullAsync($"oci-archive:{Path.Combine(OciTestFixtures.Directory, "redis.oci.tar")}:redis");
        PulledImage fromLayout = await scratch.Puller().PullAsync($"oci-layout:{OciTestFixtures.Layout}:redis");
        Assert.Equal(fromLayout.ManifestDigest, image.ManifestDigest);
        string ours = await scratch.WriteRootfsAsync(image, "ours");
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "redis")), TreeSnapshot.Of(ours));
    }

    [RequiresRootFact("umoci", "skopeo")]
    public async Task Docker_archive_matches_umoci_of_the_same_image()
    {
        using var scratch = new OciScratch();
        PulledImage image = await scratch.Puller().PullAsync($"docker-archive:{Path.Combine(OciTestFixtures.Directory, "busybox.docker.tar")}");
        Assert.Equal(["/bin/sh"], image.Config.Config.Cmd);
        PulledImage byTag = await scratch.Puller().PullAsync($"docker-archive:{Path.Combine(OciTestFixtures.Directory, "busybox.docker.tar")}:busybox:latest");
        Assert.Equal(image.ManifestDigest, byTag.ManifestDigest);
        var missing = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller().PullAsync($"docker-archive:{Path.Combine(OciTestFixtures.Directory, "busybox.docker.tar")}:other:1"));
        Assert.Equal("SM2008", missing.Code);
        string ours = await scratch.WriteRootfsAsync(image, "ours");
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "busybox")), TreeSnapshot.Of(ours));
    }

    [RequiresRootFact("umoci", "skopeo")]
    public async Task Docker_Desktop_archive_with_an_index_lacking_its_manifests_uses_manifest_json()
    {
        using var scratch = new OciScratch();
        // Docker Desktop (containerd store) adds index.json/oci-layout whose manifests are not in the archive.
        string archive = Path.Combine(scratch.Root, "desktop.tar");
        await using (var output = File.Create(archive))
        await using (var writer = new TarWriter(output, TarEntryFormat.Pax))
        await using (var input = File.OpenRead(Path.Combine(OciTestFixtures.Directory, "busybox.docker.tar")))
        using (var reader = new TarReader(input))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                writer.WriteEntry(entry);
            }
            string index = """{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":100}]}""";
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "index.json") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(index)) });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "oci-layout") { DataStream = new MemoryStream("""{"imageLayoutVersion":"1.0.0"}"""u8.ToArray()) });
        }
        PulledImage image = await scratch.Puller().PullAsync("docker-archive:" + archive);
        string ours = await scratch.WriteRootfsAsync(image, "ours");
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "busybox")), TreeSnapshot.Of(ours));
    }

    [RequiresRootFact("umoci", "skopeo")]
    public async Task Zstd_layers_flatten_like_the_gzip_original()
    {
        using var scratch = new OciScratch();
        PulledImage image = await scratch.Puller().PullAsync($"oci-layout:{OciTestFixtures.ZstdLayout}:zstd");
        Assert.All(image.Layers, l => Assert.Equal(MediaTypes.OciLayerZstd, l.Descriptor.MediaType));
        string ours = await scratch.WriteRootfsAsync(image, "ours");
        TreeSnapshot.AssertEqual(TreeSnapshot.Of(scratch.UmociUnpack(OciTestFixtures.Layout, "busybox")), TreeSnapshot.Of(ours));
    }

    [RequiresToolFact("umoci", "skopeo")]
    public async Task Layout_index_selects_the_platform_and_reports_missing_ones()
    {
        using var scratch = new OciScratch();
        PulledImage amd64 = await scratch.Puller().PullAsync($"oci-layout:{OciTestFixtures.Layout}:multi", new PullOptions { Platform = Platform.Parse("linux/amd64") });
        Assert.Equal("amd64", amd64.Config.Architecture);
        Assert.NotNull(amd64.IndexDigest);
        PulledImage arm64 = await scratch.Puller().PullAsync($"oci-layout:{OciTestFixtures.Layout}:multi", new PullOptions { Platform = Platform.Parse("linux/arm64/v8") });
        Assert.Equal("arm64", arm64.Config.Architecture);
        var ex = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller().PullAsync($"oci-layout:{OciTestFixtures.Layout}:multi", new PullOptions { Platform = Platform.Parse("linux/riscv64") }));
        Assert.Equal("SM2006", ex.Code);
        var missingTag = await Assert.ThrowsAsync<SupermachineException>(() => scratch.Puller().PullAsync($"oci-layout:{OciTestFixtures.Layout}:nope"));
        Assert.Equal("SM2008", missingTag.Code);
    }
}
