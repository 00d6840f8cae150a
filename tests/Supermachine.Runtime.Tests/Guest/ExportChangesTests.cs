using System.Formats.Tar;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Supermachine.Tests.Guest;

/// <summary>
/// EXPORT_CHANGES against the agent in host test mode (--upper DIR): a directory laid out as an
/// overlayfs upper (whiteouts, opaque and bookkeeping xattrs, set up as root) comes back as an
/// OCI layer tar.
/// </summary>
public class ExportChangesTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset Stamp = new(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [RequiresRootFact("musl-gcc", "setfattr", "mknod", "mkfifo", "chown", "ln", "tar")]
    public async Task An_overlay_upper_directory_exports_as_an_oci_layer()
    {
        string work = Directory.CreateTempSubdirectory("sm-export").FullName;
        try
        {
            string up = Path.Combine(work, "up");
            Directory.CreateDirectory(up);
            byte[] blob = RandomNumberGenerator.GetBytes(300_000); // more than one flow-control window
            string longName = new('n', 200);
            string longTarget = new('t', 150);
            string deep = Path.Combine("nested", new string('d', 60), new string('e', 60));
            await PrepareUpperAsync(up, blob, longName, longTarget, deep);

            await using var agent = HostAgent.Start(up);
            AgentConnection connection = await agent.ConnectAsync();
            var layer = new MemoryStream();
            await connection.ExportChangesAsync(layer);
            var again = new MemoryStream();
            await connection.ExportChangesAsync(again);
            Assert.True(layer.ToArray().AsSpan().SequenceEqual(again.ToArray()), "two exports of the same directory differ");

            List<(TarEntry Entry, byte[] Data)> entries = ReadAll(layer.ToArray());
            string d60 = new('d', 60), e60 = new('e', 60);
            Assert.Equal(
            [
                "blob", "etc/", "etc/conf", "fifo", ".wh.gone", ".wh.gone2",
                "links/", "links/a", "links/b", "links/longsym", "links/sym",
                "names/", "names/" + longName,
                "nested/", $"nested/{d60}/", $"nested/{d60}/{e60}/", $"nested/{d60}/{e60}/f.txt",
                "null", "opq/", "opq/.wh..wh..opq", "opq/inner",
            ], entries.Select(e => e.Entry.Name));
            TarEntry Get(string name) => entries.Single(e => e.Entry.Name == name).Entry;
            byte[] Data(string name) => entries.Single(e => e.Entry.Name == name).Data;

            TarEntry file = Get("blob");
            Assert.Equal(TarEntryType.RegularFile, file.EntryType);
            Assert.Equal((UnixFileMode)0x1A0 /* 0640 */, file.Mode);
            Assert.Equal((1234, 5678), (file.Uid, file.Gid));
            Assert.Equal(Stamp, file.ModificationTime);
            Assert.Equal(blob, Data("blob"));
            Assert.Equal("hello wörld", Assert.IsType<PaxTarEntry>(file).ExtendedAttributes["SCHILY.xattr.user.x"]);

            // Whiteouts (also the hard-linked ones overlayfs makes) become empty .wh. files.
            foreach (string wh in new[] { ".wh.gone", ".wh.gone2" })
            {
                Assert.Equal(TarEntryType.RegularFile, Get(wh).EntryType);
                Assert.Equal(0, Get(wh).Length);
                Assert.Equal((UnixFileMode)0x180 /* 0600 */, Get(wh).Mode);
            }
            Assert.Equal(TarEntryType.Directory, Get("opq/").EntryType);
            Assert.Equal(TarEntryType.RegularFile, Get("opq/.wh..wh..opq").EntryType);
            Assert.Equal(0, Get("opq/.wh..wh..opq").Length);
            Assert.Equal("in", Encoding.UTF8.GetString(Data("opq/inner")));

            // overlayfs's own xattrs are dropped, others kept.
            foreach (var (entry, _) in entries)
            {
                if (entry is PaxTarEntry pax)
                {
                    Assert.DoesNotContain(pax.ExtendedAttributes.Keys, k => k.StartsWith("SCHILY.xattr.trusted.overlay.", StringComparison.Ordinal));
                }
            }
            Assert.Equal("1", Assert.IsType<PaxTarEntry>(Get("etc/conf")).ExtendedAttributes["SCHILY.xattr.user.keep"]);

            Assert.Equal(TarEntryType.RegularFile, Get("links/a").EntryType);
            Assert.Equal("linked", Encoding.UTF8.GetString(Data("links/a")));
            Assert.Equal((TarEntryType.HardLink, "links/a"), (Get("links/b").EntryType, Get("links/b").LinkName));
            Assert.Equal((TarEntryType.SymbolicLink, "../blob"), (Get("links/sym").EntryType, Get("links/sym").LinkName));
            Assert.Equal((TarEntryType.SymbolicLink, longTarget), (Get("links/longsym").EntryType, Get("links/longsym").LinkName));
            Assert.Equal(TarEntryType.RegularFile, Get("names/" + longName).EntryType);
            Assert.Equal("deep", Encoding.UTF8.GetString(Data($"nested/{d60}/{e60}/f.txt")));
            Assert.Equal(TarEntryType.Directory, Get($"nested/{d60}/").EntryType);
            Assert.Equal((UnixFileMode)0x1ED /* 0755 */, Get($"nested/{d60}/").Mode);

            var device = Assert.IsAssignableFrom<PosixTarEntry>(Get("null"));
            Assert.Equal((TarEntryType.CharacterDevice, 1, 3), (device.EntryType, device.DeviceMajor, device.DeviceMinor));
            Assert.Equal(TarEntryType.Fifo, Get("fifo").EntryType);

            // GNU tar reads it too (long names through PAX, split names through the ustar prefix).
            string tarPath = Path.Combine(work, "layer.tar");
            await File.WriteAllBytesAsync(tarPath, layer.ToArray());
            ProcessResult listing = await ProcessRunner.RunAsync("tar", ["-tvf", tarPath]);
            output.WriteLine(listing.Output);
            Assert.True(listing.ExitCode == 0, listing.Output);
            Assert.Contains("names/" + longName, listing.StandardOutput);
            Assert.Contains("links/b link to links/a", listing.StandardOutput);
            Assert.Equal(entries.Count, listing.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [RequiresToolFact("musl-gcc")]
    public async Task Without_an_upper_directory_the_export_fails_with_SM3012()
    {
        await using var agent = HostAgent.Start();
        AgentConnection connection = await agent.ConnectAsync();
        var e = await Assert.ThrowsAsync<SupermachineException>(() => connection.ExportChangesAsync(new MemoryStream()));
        Assert.Equal("SM3012", e.Code);
        Assert.Equal(2 /* ENOENT */, Assert.IsType<AgentOperationException>(e.InnerException).Errno);
        // The connection is still good for other work.
        Assert.Equal("ok\n", (await connection.ExecAsync(new ExecRequest(["echo", "ok"]))).StandardOutput);
    }

    [RequiresToolFact("musl-gcc")]
    public async Task A_file_the_export_cannot_read_fails_it_with_SM3012_naming_the_file()
    {
        // sysfs bus directories hold write-only attributes (drivers/*/bind): opening them for
        // reading is EACCES even for root, a failure in the middle of the walk.
        await using var agent = HostAgent.Start("/sys/bus/platform");
        AgentConnection connection = await agent.ConnectAsync();
        var partial = new MemoryStream();
        var e = await Assert.ThrowsAsync<SupermachineException>(() => connection.ExportChangesAsync(partial));
        output.WriteLine(e.Message);
        Assert.Equal("SM3012", e.Code);
        Assert.Equal(13 /* EACCES */, Assert.IsType<AgentOperationException>(e.InnerException).Errno);
        Assert.Matches("layer: opening /drivers/[^ ]+/(bind|unbind|uevent): Permission denied", e.Message);
        Assert.Equal("ok\n", (await connection.ExecAsync(new ExecRequest(["echo", "ok"]))).StandardOutput);
    }

    /// <summary>Reads every entry of a tar, with its content.</summary>
    internal static List<(TarEntry Entry, byte[] Data)> ReadAll(byte[] tar)
    {
        var list = new List<(TarEntry, byte[])>();
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry(copyData: true) is { } entry)
        {
            var data = new MemoryStream();
            entry.DataStream?.CopyTo(data);
            list.Add((entry, data.ToArray()));
        }
        return list;
    }

    /// <summary>What overlayfs leaves in an upper directory, made by hand.</summary>
    private static async Task PrepareUpperAsync(string up, byte[] blob, string longName, string longTarget, string deep)
    {
        string P(string relative) => Path.Combine(up, relative);
        await File.WriteAllBytesAsync(P("blob"), blob);
        File.SetUnixFileMode(P("blob"), (UnixFileMode)0x1A0);
        await Run("chown", "1234:5678", P("blob"));
        await Run("setfattr", "-n", "user.x", "-v", "hello wörld", P("blob"));

        await Run("mknod", P("gone"), "c", "0", "0");
        await Run("ln", P("gone"), P("gone2")); // overlayfs shares one whiteout inode
        await Run("mknod", P("null"), "c", "1", "3");
        await Run("mkfifo", P("fifo"));
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            socket.Bind(new UnixDomainSocketEndPoint(P("sock"))); // sockets are not layer content
        }

        Directory.CreateDirectory(P("opq"));
        await Run("setfattr", "-n", "trusted.overlay.opaque", "-v", "y", P("opq"));
        await File.WriteAllTextAsync(P("opq/inner"), "in");

        Directory.CreateDirectory(P("etc"));
        await Run("setfattr", "-n", "trusted.overlay.origin", "-v", "0x00fb210081", P("etc"));
        await Run("setfattr", "-n", "trusted.overlay.impure", "-v", "y", P("etc"));
        await File.WriteAllTextAsync(P("etc/conf"), "x=1\n");
        await Run("setfattr", "-n", "trusted.overlay.origin", "-v", "0x00fb210082", P("etc/conf"));
        await Run("setfattr", "-n", "user.keep", "-v", "1", P("etc/conf"));

        Directory.CreateDirectory(P("links"));
        await File.WriteAllTextAsync(P("links/a"), "linked");
        await Run("ln", P("links/a"), P("links/b"));
        File.CreateSymbolicLink(P("links/sym"), "../blob");
        File.CreateSymbolicLink(P("links/longsym"), longTarget);

        Directory.CreateDirectory(P("names"));
        await File.WriteAllTextAsync(P(Path.Combine("names", longName)), "long");
        Directory.CreateDirectory(P(deep));
        await File.WriteAllTextAsync(P(Path.Combine(deep, "f.txt")), "deep");
        foreach (string dir in Directory.GetDirectories(P("nested"), "*", SearchOption.AllDirectories))
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ED);
        }

        File.SetLastWriteTimeUtc(P("blob"), Stamp.UtcDateTime);
    }

    private static async Task Run(string tool, params string[] args)
    {
        ProcessResult r = await ProcessRunner.RunAsync(tool, args);
        Assert.True(r.ExitCode == 0, $"{tool} {string.Join(' ', args)}: {r.Output}");
    }
}
