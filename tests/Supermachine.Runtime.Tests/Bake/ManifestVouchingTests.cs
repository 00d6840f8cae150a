using System.Text.Json.Nodes;
using Supermachine.Bake;
using Supermachine.Diagnostics;

namespace Supermachine.Tests.Bake;

/// <summary>
/// The manifest must vouch for every file a boot or restore opens: a manifest that lists fewer
/// files would let a swapped RAM file or kernel through every hash check. Malformed fields are
/// SM3252, never a NullReferenceException.
/// </summary>
public class ManifestVouchingTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-vouch-").FullName;

    private async Task<string> ImageWithManifestEdit(Action<JsonObject> edit)
    {
        string dir = await FakeImages.CommitAsync(_root, "image-" + Guid.NewGuid().ToString("N")[..6], FakeImages.Manifest("sha256:" + new string('f', 64)));
        string path = Path.Combine(dir, SnapshotManifest.FileName);
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
        return dir;
    }

    private static JsonArray Files(JsonObject manifest) => (JsonArray)manifest["files"]!;

    private static void RemoveFile(JsonObject manifest, string path) =>
        Files(manifest).Remove(Files(manifest).First(f => (string?)f!["path"] == path));

    private static SupermachineException Refused(string dir)
    {
        var e = Assert.Throws<SupermachineException>(() => MicroVmImage.Load(dir));
        Assert.Contains(dir, e.Message);
        return e;
    }

    [Fact]
    public async Task A_complete_manifest_loads()
    {
        string dir = await ImageWithManifestEdit(_ => { });
        Assert.True(MicroVmImage.Load(dir).HasSnapshot);
    }

    [Fact]
    public async Task A_manifest_listing_no_files_is_SM3254()
    {
        string dir = await ImageWithManifestEdit(m => m["files"] = new JsonArray());
        var e = Refused(dir);
        Assert.Equal("SM3254", e.Code);
        Assert.Contains("not vouched for", e.Message);
    }

    [Theory]
    [InlineData("snapshot/ram")]
    [InlineData("snapshot/vmstate")]
    [InlineData("vmlinuz")]
    [InlineData("initramfs.img")]
    [InlineData("rootfs.squashfs")]
    public async Task A_manifest_that_omits_a_file_the_boot_or_restore_opens_is_SM3254_naming_it(string omitted)
    {
        string dir = await ImageWithManifestEdit(m => RemoveFile(m, omitted));
        var e = Refused(dir);
        Assert.Equal("SM3254", e.Code);
        Assert.Contains($"'{omitted}'", e.Message);
    }

    [Fact]
    public async Task A_snapshot_file_added_beside_the_listed_ones_is_SM3254()
    {
        string dir = await ImageWithManifestEdit(_ => { });
        File.WriteAllText(Path.Combine(dir, "snapshot", "extra"), "x");
        Assert.Contains("snapshot/extra", Refused(dir).Message);
    }

    [Fact]
    public async Task Null_files_is_SM3252_not_a_NullReferenceException()
    {
        string dir = await ImageWithManifestEdit(m => m["files"] = null);
        Assert.Equal("SM3252", Refused(dir).Code);
    }

    public static TheoryData<string, string> MalformedFields => new()
    {
        { "null entry", "[null]" },
        { "null path", "[{\"path\": null, \"size\": 1, \"sha256\": \"sha256:" + new string('0', 64) + "\"}]" },
        { "negative size", "[{\"path\": \"vmlinuz\", \"size\": -1, \"sha256\": \"sha256:" + new string('0', 64) + "\"}]" },
        { "null hash", "[{\"path\": \"vmlinuz\", \"size\": 6, \"sha256\": null}]" },
        { "short hash", "[{\"path\": \"vmlinuz\", \"size\": 6, \"sha256\": \"sha256:abc\"}]" },
        { "escaping path", "[{\"path\": \"../vmlinuz\", \"size\": 6, \"sha256\": \"sha256:" + new string('0', 64) + "\"}]" },
        { "absolute path", "[{\"path\": \"/etc/passwd\", \"size\": 6, \"sha256\": \"sha256:" + new string('0', 64) + "\"}]" },
    };

    [Theory]
    [MemberData(nameof(MalformedFields))]
    public async Task Malformed_file_records_are_SM3252(string what, string files)
    {
        string dir = await ImageWithManifestEdit(m => m["files"] = JsonNode.Parse(files));
        Assert.True(Refused(dir).Code == "SM3252", what);
    }

    [Theory]
    [InlineData("name")]
    [InlineData("fingerprint")]
    [InlineData("engine")]
    [InlineData("workload")]
    public async Task A_null_required_field_is_SM3252(string field)
    {
        string dir = await ImageWithManifestEdit(m => m[field] = null);
        Assert.Equal("SM3252", Refused(dir).Code);
    }

    [Fact]
    public async Task A_cold_image_needs_no_snapshot_files()
    {
        string dir = await ImageWithManifestEdit(m =>
        {
            m["hasSnapshot"] = false;
            RemoveFile(m, "snapshot/ram");
            RemoveFile(m, "snapshot/vmstate");
        });
        Directory.Delete(Path.Combine(dir, "snapshot"), recursive: true);
        Assert.False(MicroVmImage.Load(dir).HasSnapshot);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
