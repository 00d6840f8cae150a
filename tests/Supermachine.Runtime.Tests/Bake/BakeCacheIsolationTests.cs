using Supermachine.Bake;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Bake;

/// <summary>
/// Outputs never share a writable inode with the bake cache, so damage to an output stays there;
/// a damaged cache entry is found (through its hashes) before reuse, removed, and reported.
/// </summary>
public class BakeCacheIsolationTests : IDisposable
{
    private const int RamBytes = 1 << 20;

    private readonly string _root = Directory.CreateTempSubdirectory("sm-cache-isolation-").FullName;
    private readonly BakeCache _cache;
    private readonly string _fingerprint = "sha256:" + new string('e', 64);

    public BakeCacheIsolationTests() => _cache = new BakeCache(Path.Combine(_root, "cache"));

    private Task<string> CacheEntry() => FakeImages.CommitAsync(_root, _cache.PathFor(_fingerprint), FakeImages.Manifest(_fingerprint), RamBytes);

    private static (string Inode, long Blocks) Stat(string path)
    {
        string[] parts = ProcessRunner.Run("stat", ["-c", "%i %b", path]).Trim().Split(' ');
        return (parts[0], long.Parse(parts[1]));
    }


    [Fact]
    public async Task A_byte_flipped_in_an_output_leaves_the_cached_bake_intact()
    {
        string entry = await CacheEntry();
        string output = Path.Combine(_root, "out", "app");
        BakeCache.Materialize(entry, output);

        foreach (string file in Directory.EnumerateFiles(entry, "*", SearchOption.AllDirectories))
        {
            string copy = Path.Combine(output, Path.GetRelativePath(entry, file));
            Assert.NotEqual(Stat(file).Inode, Stat(copy).Inode);
        }
        FakeImages.FlipByte(Path.Combine(output, "snapshot", "ram"), 4096);

        await SnapshotDirectory.VerifyAsync(entry, SnapshotDirectory.Load(entry));
        var warnings = new List<string>();
        Assert.NotNull(await _cache.TryGetAsync(_fingerprint, warnings.Add));
        Assert.Empty(warnings);
    }

    [Fact]
    public async Task A_copy_keeps_the_holes_of_a_sparse_RAM_file()
    {
        string entry = await CacheEntry();
        string ram = Path.Combine(entry, "snapshot", "ram");
        File.Delete(ram);
        using (var sparse = new FileStream(ram, FileMode.CreateNew))
        {
            sparse.SetLength(64L << 20);
            sparse.Position = 32L << 20;
            sparse.Write(new byte[4096].Select(_ => (byte)7).ToArray());
        }
        string output = Path.Combine(_root, "sparse-out");
        BakeCache.Materialize(entry, output);
        string copy = Path.Combine(output, "snapshot", "ram");
        Assert.Equal(64L << 20, new FileInfo(copy).Length);
        Assert.True(Stat(copy).Blocks < 1024, $"{Stat(copy).Blocks} blocks of 512 bytes allocated for 4 KiB of data");
        Assert.Equal(File.ReadAllBytes(ram), File.ReadAllBytes(copy));
    }

    [Fact]
    public async Task A_damaged_cached_bake_is_removed_with_SM4010_instead_of_reused()
    {
        string entry = await CacheEntry();
        Assert.NotNull(await _cache.TryGetAsync(_fingerprint)); // verified and stamped

        // Same size: only the hashes (through the stamp's change time) can tell.
        FakeImages.FlipByte(Path.Combine(entry, "snapshot", "ram"), 100);
        var warnings = new List<string>();
        Assert.Null(await _cache.TryGetAsync(_fingerprint, warnings.Add));
        string warning = Assert.Single(warnings);
        Assert.StartsWith("SM4010", warning);
        Assert.Contains("snapshot/ram", warning);
        Assert.False(Directory.Exists(entry));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
