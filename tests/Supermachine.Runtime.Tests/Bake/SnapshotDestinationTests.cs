using Supermachine.Bake;
using Supermachine.Diagnostics;

namespace Supermachine.Tests.Bake;

/// <summary>
/// A bake replaces its destination and deletes the old one, so it may replace only what a bake
/// wrote: nothing, an empty directory, or an image directory whose manifest lists every file.
/// </summary>
public class SnapshotDestinationTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-destination-").FullName;

    private static SnapshotManifest Manifest(bool snapshot = true) => FakeImages.Manifest("sha256:" + new string('f', 64), snapshot);

    private string Project()
    {
        string project = Path.Combine(_root, "project");
        Directory.CreateDirectory(Path.Combine(project, "src"));
        File.WriteAllText(Path.Combine(project, "Program.cs"), "// my code");
        File.WriteAllText(Path.Combine(project, "src", "Lib.cs"), "// more code");
        return project;
    }

    private static void AssertProjectIntact(string project)
    {
        Assert.Equal("// my code", File.ReadAllText(Path.Combine(project, "Program.cs")));
        Assert.Equal("// more code", File.ReadAllText(Path.Combine(project, "src", "Lib.cs")));
        Assert.All(Directory.GetFileSystemEntries(project), e => Assert.Contains(Path.GetFileName(e), new[] { "Program.cs", "src", "Dockerfile" }));
    }

    [Fact]
    public async Task A_commit_into_a_directory_that_is_not_an_image_fails_SM2320_and_leaves_every_file()
    {
        string project = Project();
        var e = await Assert.ThrowsAsync<SupermachineException>(() => FakeImages.CommitAsync(_root, project, Manifest()));
        Assert.Equal("SM2320", e.Code);
        Assert.Contains(project, e.Message);
        Assert.Contains("choose another path or remove it", e.Message);
        AssertProjectIntact(project);
        // The staging directory of the refused commit is gone too.
        Assert.DoesNotContain(Directory.GetDirectories(_root), d => d.Contains(".staging-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Materializing_a_cached_image_over_a_project_fails_SM2320_and_leaves_every_file()
    {
        string cached = await FakeImages.CommitAsync(_root, "cached", Manifest());
        string project = Project();
        Assert.Equal("SM2320", Assert.Throws<SupermachineException>(() => BakeCache.Materialize(cached, project)).Code);
        AssertProjectIntact(project);
    }

    [Fact]
    public async Task An_image_directory_with_a_file_of_the_user_added_is_not_replaced()
    {
        string image = await FakeImages.CommitAsync(_root, "image", Manifest());
        File.WriteAllText(Path.Combine(image, "notes.txt"), "mine");
        var e = await Assert.ThrowsAsync<SupermachineException>(() => FakeImages.CommitAsync(_root, image, Manifest()));
        Assert.Equal("SM2320", e.Code);
        Assert.Contains("notes.txt", e.Message);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(image, "notes.txt")));
    }

    [Fact]
    public void A_file_or_a_foreign_manifest_at_the_destination_is_refused()
    {
        string file = Path.Combine(_root, "file");
        File.WriteAllText(file, "data");
        Assert.Equal("SM2320", Assert.Throws<SupermachineException>(() => SnapshotDestination.EnsureReplaceable(file)).Code);
        Assert.Equal("data", File.ReadAllText(file));

        string other = Path.Combine(_root, "other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "manifest.json"), "{\"schemaVersion\": 2}");
        Assert.Equal("SM2320", Assert.Throws<SupermachineException>(() => SnapshotDestination.EnsureReplaceable(other)).Code);
        Assert.True(File.Exists(Path.Combine(other, "manifest.json")));
    }

    [Fact]
    public async Task An_earlier_image_an_empty_directory_and_a_new_path_are_replaced()
    {
        string image = await FakeImages.CommitAsync(_root, "image", Manifest());
        await FakeImages.CommitAsync(_root, image, Manifest(snapshot: false));
        Assert.False(SnapshotDirectory.Load(image).HasSnapshot);
        Assert.False(Directory.Exists(Path.Combine(image, "snapshot")));

        string empty = Path.Combine(_root, "empty");
        Directory.CreateDirectory(empty);
        await FakeImages.CommitAsync(_root, empty, Manifest());
        SnapshotDirectory.Load(empty);

        await FakeImages.CommitAsync(_root, Path.Combine(_root, "new", "deeper"), Manifest());
        Assert.DoesNotContain(Directory.GetDirectories(_root), d => d.Contains(".old-", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("ctx", "ctx", "is")]
    [InlineData("ctx/", "ctx", "is")]
    [InlineData("", "ctx", "contains")]
    [InlineData("/", "ctx", "contains")]
    public void An_output_that_is_or_contains_the_build_context_is_SM2321(string output, string context, string relation)
    {
        string destination = output == "/" ? "/" : Path.Combine(_root, output);
        var e = Assert.Throws<SupermachineException>(() => SnapshotDestination.EnsureOutsideContext(destination, Path.Combine(_root, context)));
        Assert.Equal("SM2321", e.Code);
        Assert.Contains(relation + " the build context", e.Message);
    }

    [Fact]
    public void An_output_inside_or_beside_the_context_is_allowed()
    {
        SnapshotDestination.EnsureOutsideContext(Path.Combine(_root, "ctx", "out"), Path.Combine(_root, "ctx"));
        SnapshotDestination.EnsureOutsideContext(Path.Combine(_root, "ctx2"), Path.Combine(_root, "ctx"));
    }

    [Fact]
    public async Task A_bake_into_its_own_build_context_or_a_project_fails_before_any_work()
    {
        string project = Project();
        File.WriteAllText(Path.Combine(project, "Dockerfile"), "FROM scratch\n");
        MicroVmImageRequest build = MicroVmImageRequest.FromMetadata("app", k => k switch { "Dockerfile" => Path.Combine(project, "Dockerfile"), _ => null });
        var options = new BakeOptions { CacheDirectory = Path.Combine(_root, "cache") };

        var intoContext = await Assert.ThrowsAsync<SupermachineException>(() => ImageBaker.BakeAsync(build, project, options));
        Assert.Equal("SM2321", intoContext.Code);
        Assert.Contains("is the build context", intoContext.Message);
        var aboveContext = await Assert.ThrowsAsync<SupermachineException>(() => ImageBaker.BakeAsync(build, _root, options));
        Assert.Equal("SM2321", aboveContext.Code);
        Assert.Contains("contains the build context", aboveContext.Message);

        MicroVmImageRequest pull = MicroVmImageRequest.FromMetadata("registry.invalid/app:1", _ => null);
        Assert.Equal("SM2320", (await Assert.ThrowsAsync<SupermachineException>(() => ImageBaker.BakeAsync(pull, project, options))).Code);
        AssertProjectIntact(project);
        Assert.False(Directory.Exists(Path.Combine(_root, "cache")));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
