using Supermachine.Vmm;
using Supermachine.Vmm.Qemu;
using Supermachine.Tests.Infrastructure;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Images;

namespace Supermachine.Tests.Images;

public class SnapshotDirectoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-snapdir-").FullName;

    private static SnapshotManifest Manifest() => new()
    {
        Name = "redis_7",
        Reference = "redis:7",
        ImageDigest = "sha256:" + new string('a', 64),
        Workload = new() { Argv = ["redis-server"], Port = 6379 },
        Machine = new() { MemoryMiB = 256, Vcpus = 1, Architecture = "x86_64" },
        Assets = new Dictionary<string, string> { ["kernel"] = "sha256:k" },
        Fingerprint = "sha256:f",
        HasSnapshot = true,
        Files = [],
    };

    private async Task<string> BakeFake(string name) => await FakeImages.CommitAsync(_root, name, Manifest());

    [Fact]
    public async Task Commit_records_every_file_relatively_and_a_load_and_verify_accept_it()
    {
        string dir = await BakeFake("a");
        Assert.False(Directory.Exists(dir + ".staging"));
        SnapshotManifest m = SnapshotDirectory.Load(dir);
        Assert.Equal(["initramfs.img", "rootfs.squashfs", "snapshot/ram", "snapshot/vmstate", "vmlinuz"], m.Files.Select(f => f.Path));
        Assert.All(m.Files, f => Assert.StartsWith("sha256:", f.Sha256));
        await SnapshotDirectory.VerifyAsync(dir, m);
        Assert.DoesNotContain(_root, await File.ReadAllTextAsync(Path.Combine(dir, "manifest.json")));
    }

    [Fact]
    public async Task A_moved_directory_still_loads_and_verifies()
    {
        string dir = await BakeFake("b");
        string moved = Path.Combine(_root, "elsewhere", "b");
        Directory.CreateDirectory(Path.GetDirectoryName(moved)!);
        Directory.Move(dir, moved);
        await SnapshotDirectory.VerifyAsync(moved, SnapshotDirectory.Load(moved));
    }

    [Fact]
    public async Task A_stamped_verification_is_trusted_until_a_file_changes_even_with_its_size_and_mtime_kept()
    {
        string dir = await BakeFake("stamped");
        string stamps = Path.Combine(_root, "stamps");
        SnapshotManifest m = SnapshotDirectory.Load(dir);
        await SnapshotDirectory.VerifyUnlessStampedAsync(dir, m, stamps);
        Assert.Single(Directory.GetFiles(stamps));
        await SnapshotDirectory.VerifyUnlessStampedAsync(dir, m, stamps); // trusted: nothing changed

        // Same length, same mtime, different bytes: only the change time gives it away.
        string ram = Path.Combine(dir, "snapshot", "ram");
        DateTime mtime = File.GetLastWriteTimeUtc(ram);
        await File.WriteAllBytesAsync(ram, Enumerable.Repeat((byte)1, 4096).ToArray());
        File.SetLastWriteTimeUtc(ram, mtime);
        var e = await Assert.ThrowsAsync<SupermachineException>(() => SnapshotDirectory.VerifyUnlessStampedAsync(dir, m, stamps));
        Assert.Equal("SM3254", e.Code);
        Assert.Contains("snapshot/ram", e.Message);
    }

    [Fact]
    public async Task Missing_truncated_and_altered_files_are_SM3254()
    {
        string dir = await BakeFake("c");
        await File.WriteAllBytesAsync(Path.Combine(dir, "snapshot", "ram"), new byte[4095]);
        var truncated = Assert.Throws<SupermachineException>(() => SnapshotDirectory.Load(dir));
        Assert.Equal("SM3254", truncated.Code);
        Assert.Contains("snapshot/ram", truncated.Message);

        await File.WriteAllBytesAsync(Path.Combine(dir, "snapshot", "ram"), Enumerable.Repeat((byte)1, 4096).ToArray());
        SnapshotManifest m = SnapshotDirectory.Load(dir);
        var altered = await Assert.ThrowsAsync<SupermachineException>(() => SnapshotDirectory.VerifyAsync(dir, m));
        Assert.Contains("does not match the hash", altered.Message);

        File.Delete(Path.Combine(dir, "rootfs.squashfs"));
        Assert.Contains("is missing", Assert.Throws<SupermachineException>(() => SnapshotDirectory.Load(dir)).Message);
    }

    [Fact]
    public async Task Wrong_format_version_escaping_paths_and_no_manifest_are_refused()
    {
        string dir = await BakeFake("d");
        string manifestPath = Path.Combine(dir, "manifest.json");
        string text = await File.ReadAllTextAsync(manifestPath);
        await File.WriteAllTextAsync(manifestPath, text.Replace($"\"formatVersion\": {SnapshotManifest.CurrentFormatVersion}", "\"formatVersion\": 99"));
        Assert.Equal("SM3253", Assert.Throws<SupermachineException>(() => SnapshotDirectory.Load(dir)).Code);

        await File.WriteAllTextAsync(manifestPath, text.Replace("\"snapshot/ram\"", "\"../../etc/passwd\""));
        Assert.Equal("SM3252", Assert.Throws<SupermachineException>(() => SnapshotDirectory.Load(dir)).Code);

        Assert.Equal("SM3251", Assert.Throws<SupermachineException>(() => SnapshotDirectory.Load(_root)).Code);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}

public class BakeCacheTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-bakecache-").FullName;

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_cached_bake_from_another_engine_is_found_for_the_warning_and_never_used()
    {
        var cache = new BakeCache(_root);
        string fingerprint = "sha256:" + new string('c', 64);
        var manifest = new SnapshotManifest
        {
            Name = "redis_7",
            Reference = "redis:7",
            ImageDigest = "sha256:" + new string('1', 64),
            Workload = new(),
            Machine = new(),
            Assets = new Dictionary<string, string>(),
            Fingerprint = fingerprint,
            HasSnapshot = true,
            Files = [],
        };
        var backend = new QemuBackend();
        VmSnapshotInfo Info(string version) => new()
        {
            FormatVersion = QemuSnapshot.FormatVersion,
            Engine = backend.Name,
            EngineVersion = version,
            Accelerator = Accelerator.Tcg,
            CpuModel = GuestArchitecture.Host.CpuModel(Accelerator.Tcg),
            MachineType = GuestArchitecture.Host.Machine(Accelerator.Tcg),
            MemoryMiB = 256,
            Vcpus = 1,
            KernelArguments = "",
            Mode = VmSnapshotMode.Migration,
            Files = [QemuSnapshot.InfoFile, QemuSnapshot.StateFile],
        };
        await FakeImages.CommitAsync(_root, cache.PathFor(fingerprint), manifest, engineInfo: Info("9.0.0"));

        Assert.Equal($"engine version '9.0.0' (here '{backend.Version}')", cache.FindFromOtherEngine("redis:7", backend, Accelerator.Tcg));
        Assert.Null(cache.FindFromOtherEngine("postgres:16", backend, Accelerator.Tcg));

        // The same bake made by this very engine restores here: nothing to warn about.
        string sameFingerprint = "sha256:" + new string('e', 64);
        await FakeImages.CommitAsync(_root, cache.PathFor(sameFingerprint), manifest with { Reference = "valkey:8", Fingerprint = sameFingerprint }, engineInfo: Info(backend.Version));
        Assert.Null(cache.FindFromOtherEngine("valkey:8", backend, Accelerator.Tcg));
        Assert.Equal($"accelerator 'tcg' (here 'kvm')", cache.FindFromOtherEngine("valkey:8", backend, Accelerator.Kvm));
        // Its fingerprint differs from any bake made here, so it is never materialized.
        Assert.Null(await cache.TryGetAsync("sha256:" + new string('d', 64)));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
