using System.Diagnostics;
using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Guest;

public sealed class GuestAssetsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sm-assets").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Put(string relative, string content)
    {
        string path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void The_package_layout_is_read_with_modules_in_load_order()
    {
        Put("vmlinuz", "kernel");
        Put("modules.order", "virtio\nsquashfs\n\n");
        Put("modules/virtio.ko", "v");
        Put("modules/squashfs.ko", "s");
        Put("agent", "agent");
        GuestAssets a = GuestAssets.FromDirectory(_dir);
        Assert.Equal(Path.Combine(_dir, "vmlinuz"), a.KernelPath);
        Assert.Equal(["virtio", "squashfs"], a.ModuleOrder);
        Assert.Equal([Path.Combine(_dir, "modules", "virtio.ko"), Path.Combine(_dir, "modules", "squashfs.ko")], a.ModulePaths);
        Assert.Equal(Path.Combine(_dir, "agent"), a.AgentPath);
    }

    [Fact]
    public void The_setup_cache_layout_is_read_too()
    {
        Put("kernel/vmlinuz", "kernel");
        Put("kernel/modules.order", "overlay\n");
        Put("kernel/modules/overlay.ko", "o");
        Put("agent/agent", "agent");
        GuestAssets a = GuestAssets.FromDirectory(_dir);
        Assert.Equal(Path.Combine(_dir, "kernel", "vmlinuz"), a.KernelPath);
        Assert.Equal(Path.Combine(_dir, "agent", "agent"), a.AgentPath);
        Assert.Equal(["overlay"], a.ModuleOrder);
    }

    [Fact]
    public void A_foreign_guest_is_looked_for_in_a_guest_RID_folder_of_the_package_and_in_its_own_setup_cache_folder()
    {
        string native = Supermachine.Locations.NativeAssetDirectories.NativeGuestRuntimeIdentifier;
        string foreign = native == "linux-x64" ? "linux-arm64" : "linux-x64";
        string app = AppContext.BaseDirectory.TrimEnd('/');
        List<string> foreignDirs = Supermachine.Locations.NativeAssetDirectories.SearchGuest(foreign).Select(d => d.TrimEnd('/')).ToList();
        Assert.Contains(Path.Combine(app, "guest-" + foreign), foreignDirs);
        Assert.Contains(Path.Combine(app, "runtimes", Supermachine.Locations.NativeAssetDirectories.HostRuntimeIdentifier, "native", "guest-" + foreign), foreignDirs);
        Assert.DoesNotContain(app, foreignDirs); // the flat folder holds the host's own guest
        Assert.EndsWith(Path.Combine("assets", foreign), foreignDirs[^1]);

        List<string> nativeDirs = Supermachine.Locations.NativeAssetDirectories.SearchGuest(native).Select(d => d.TrimEnd('/')).ToList();
        Assert.Contains(app, nativeDirs);
        Assert.EndsWith(Path.Combine("assets", native), nativeDirs[^1]);
    }

    [Fact]
    public void A_missing_piece_is_SM3001_naming_it_and_saying_how_to_get_it()
    {
        Put("vmlinuz", "kernel");
        Put("modules.order", "virtio\n../../etc/passwd\n");
        Put("modules/virtio.ko", "v");
        var e = Assert.Throws<SupermachineException>(() => GuestAssets.FromDirectory(_dir));
        Assert.Equal("SM3001", e.Code);
        Assert.Contains("agent", e.Message);
        Assert.Contains("eng/setup.sh", e.Message);

        Put("agent", "agent");
        e = Assert.Throws<SupermachineException>(() => GuestAssets.FromDirectory(_dir));
        Assert.Contains("../../etc/passwd", e.Message);
    }

    [Fact]
    public void The_initramfs_is_deterministic()
    {
        GuestAssets a = FakeAssets();
        var first = new MemoryStream();
        InitramfsBuilder.Write(first, a);
        var second = new MemoryStream();
        InitramfsBuilder.Write(second, a);
        Assert.Equal(first.ToArray(), second.ToArray());
    }

    [Fact]
    public void The_cached_initramfs_is_named_by_its_content()
    {
        GuestAssets a = FakeAssets();
        string cache = Path.Combine(_dir, "cache");
        string first = InitramfsBuilder.EnsureCached(cache, a);
        Assert.Equal(first, InitramfsBuilder.EnsureCached(cache, a));
        Put("agent", "#!another agent");
        string second = InitramfsBuilder.EnsureCached(cache, GuestAssets.FromDirectory(_dir));
        Assert.NotEqual(first, second);
        Assert.Equal(2, Directory.GetFiles(cache).Length);
    }

    [RequiresToolFact("cpio")]
    public void The_initramfs_holds_the_agent_as_init_and_the_modules_in_order()
    {
        GuestAssets a = FakeAssets();
        string image = Path.Combine(_dir, "initramfs.cpio");
        InitramfsBuilder.Write(image, a);
        var psi = new ProcessStartInfo("cpio", ["-itv", "-F", image]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string listing = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        string[] names = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]).ToArray();
        Assert.Equal(["dev", "dev/console", "proc", "sys", "init", "modules", "modules/virtio.ko", "modules/squashfs.ko", "modules.order"], names);
        Assert.Contains(listing.Split('\n'), l => l.StartsWith("-rwxr-xr-x", StringComparison.Ordinal) && l.EndsWith(" init", StringComparison.Ordinal));
        Assert.Contains(listing.Split('\n'), l => l.StartsWith("crw-------", StringComparison.Ordinal) && l.EndsWith(" dev/console", StringComparison.Ordinal));
    }

    private GuestAssets FakeAssets()
    {
        Put("vmlinuz", "kernel");
        Put("modules.order", "virtio\nsquashfs\n");
        Put("modules/virtio.ko", "v");
        Put("modules/squashfs.ko", "s");
        Put("agent", "#!agent");
        return GuestAssets.FromDirectory(_dir);
    }
}
