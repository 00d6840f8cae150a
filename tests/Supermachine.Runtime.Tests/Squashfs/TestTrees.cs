using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Squashfs;

/// <summary>
/// Builds the big synthetic trees once per test class and deletes them after: "many" (10^5 small
/// files, 10^4 of them in one directory, duplicates) and "special" (a 1 GiB sparse file, deep
/// nesting, every file type, hard links, xattrs, 255-byte names, odd modes, owners and mtimes).
/// Device nodes and owners need root; without it those entries are left out. Plus "redis": the
/// fixture root filesystem (tests/fixtures/rootfs.sh redis) with its layers merged by cp -a.
/// </summary>
public sealed partial class TestTrees : IDisposable
{
    public TestTrees()
    {
        Root = Path.Combine(Path.GetTempPath(), "sm-squashfs-trees-" + Guid.NewGuid().ToString("N")[..8]);
        Many = Path.Combine(Root, "many");
        Special = Path.Combine(Root, "special");
        Redis = Path.Combine(Root, "redis");
        try
        {
            BuildMany(Many);
            BuildSpecial(Special);
            BuildRedis(Redis);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Root { get; }

    public string Many { get; }

    public string Special { get; }

    public string Redis { get; }

    private readonly Dictionary<string, SortedDictionary<string, string>> _snapshots = [];

    /// <summary>The source tree's snapshot, taken once (10^5 files take a while to hash).</summary>
    public SortedDictionary<string, string> Snapshot(string name)
    {
        lock (_snapshots)
        {
            if (!_snapshots.TryGetValue(name, out var snapshot))
            {
                _snapshots[name] = snapshot = TreeSnapshot.Of(this[name]);
            }
            return snapshot;
        }
    }

    public string this[string name] => name switch { "many" => Many, "special" => Special, "redis" => Redis, _ => throw new ArgumentOutOfRangeException(nameof(name)) };

    /// <summary>A scratch directory under the fixture root, removed with it.</summary>
    public string Scratch(string name)
    {
        string path = Path.Combine(Root, "scratch", name + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        // Unsquashfs output can hold read-only directories; make everything removable first.
        ExternalTool.Run("chmod", "-R", "u+rwx", Root);
        Directory.Delete(Root, recursive: true);
    }

    private static void BuildRedis(string root)
    {
        string layers = root + "-layers";
        string script = Path.Combine(TestEnvironment.RepositoryRoot, "tests", "fixtures", "rootfs.sh");
        ExternalTool.Check("bash", script, "redis", layers);
        Directory.CreateDirectory(root);
        foreach (string layer in Directory.GetDirectories(layers, "layer*").Order(StringComparer.Ordinal))
        {
            ExternalTool.Check("cp", "-a", layer + "/.", root);
        }
    }

    private static void BuildMany(string root)
    {
        var random = new Random(4);
        byte[] pool = new byte[64 * 1024];
        for (int i = 0; i < pool.Length; i++)
        {
            pool[i] = (byte)"abcdefghij klmnopqrstuvwxyz\n0123456789"[random.Next(38)];
        }
        int file = 0;
        // 10^4 entries in one directory (its listing spans many metadata blocks, so it gets an index).
        string wide = Path.Combine(root, "wide");
        Directory.CreateDirectory(wide);
        for (int i = 0; i < 10_000; i++, file++)
        {
            File.WriteAllBytes(Path.Combine(wide, $"entry-{i:D5}-{new string('x', i % 40)}"), Content(pool, file));
        }
        // The rest in 90 directories of 1000, two levels deep.
        for (int d = 0; d < 90; d++)
        {
            string dir = Path.Combine(root, $"group{d / 10}", $"dir{d:D2}");
            Directory.CreateDirectory(dir);
            for (int i = 0; i < 1000; i++, file++)
            {
                File.WriteAllBytes(Path.Combine(dir, $"f{i:D4}.txt"), Content(pool, file));
            }
        }
        ExternalTool.Check("find", root, "-exec", "touch", "-h", "-d", "@1700000000", "{}", "+");
    }

    /// <summary>Small files of varying size; every 7th is a duplicate of an earlier one, as real trees have.</summary>
    private static byte[] Content(byte[] pool, int n)
    {
        int key = n % 7 == 0 ? n / 7 : n;
        int size = (key * 131) % 6000;
        int offset = (key * 7919) % (pool.Length - size);
        return pool.AsSpan(offset, size).ToArray();
    }

    private static void BuildSpecial(string root)
    {
        Directory.CreateDirectory(root);
        bool asRoot = TestEnvironment.IsRoot;
        string longAscii = new('n', 255);
        string longUtf8 = string.Concat(Enumerable.Repeat("é", 127)) + "x"; // 255 bytes in UTF-8
        ExternalTool.Bash($"""
            cd '{root}'
            truncate -s 1G sparse-1g
            head -c 200000 /dev/urandom | dd of=sparse-1g bs=65536 seek=8192 conv=notrunc status=none
            head -c 3000000 /dev/urandom > random-3m
            (yes 'compressible line of text' || true) | head -c 2097152 > text-2m
            head -c 131072 /dev/urandom > exactly-one-block
            head -c 131073 /dev/urandom > one-block-and-a-byte
            truncate -s 300000 zeros-300k
            : > empty
            echo same > dup-a; echo same > dup-b
            printf 'linked\n' > hard-1; ln hard-1 hard-2; mkdir -p sub; ln hard-1 sub/hard-3
            ln -s hard-1 symlink; ln -s /absolute/dangling dangling; ln -s ../../some/where sub/relative
            mkfifo fifo
            mkdir -p {string.Join('/', Enumerable.Repeat("deep", 150))}
            echo bottom > {string.Join('/', Enumerable.Repeat("deep", 150))}/bottom
            echo long > {longAscii}
            echo utf8 > {longUtf8}
            echo setuid > setuid; chmod 4755 setuid
            echo setgid > setgid; chmod 2710 setgid
            mkdir sticky; chmod 1777 sticky
            echo private > private; chmod 0600 private
            mkdir 'name with spaces' && echo x > 'name with spaces/ünïcödé ✓'
            """);
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            socket.Bind(new UnixDomainSocketEndPoint(Path.Combine(root, "socket")));
        }
        SetXattr(Path.Combine(root, "text-2m"), "user.comment", "hello"u8.ToArray());
        SetXattr(Path.Combine(root, "text-2m"), "user.empty", []);
        SetXattr(Path.Combine(root, "hard-1"), "user.shared", "by three names"u8.ToArray());
        SetXattr(Path.Combine(root, "sub"), "user.dir", "on a directory"u8.ToArray());
        SetXattr(Path.Combine(root, "dup-a"), "user.same", "set"u8.ToArray());
        SetXattr(Path.Combine(root, "dup-b"), "user.same", "set"u8.ToArray());
        if (asRoot)
        {
            // cap_net_bind_service+ep, as setcap writes it.
            SetXattr(Path.Combine(root, "setuid"), "security.capability", Convert.FromBase64String("AQAAAgAEAAAAAAAAAAAAAAAAAAA="));
            SetXattr(Path.Combine(root, "private"), "trusted.note", "only root sees this"u8.ToArray());
            ExternalTool.Bash($"""
                cd '{root}'
                mknod null c 1 3; mknod loop7 b 7 7; mknod bigdev c 4095 1048575; mknod bigblk b 259 70000
                chown 1000:1001 private; chown -h 65534:65534 symlink; chown 4000000:5 setgid; chown 33:33 sub
                """);
        }
        ExternalTool.Bash($"cd '{root}'\n" + """
            find . -exec touch -h -d @1600000000 {} +
            touch -h -d @0 empty; touch -h -d @4000000000 dup-b; touch -h -d @1234567890 sub
            """);
    }

    public static void SetXattr(string path, string name, byte[] value)
    {
        if (lsetxattr(path, name, value, (nuint)value.Length, 0) != 0)
        {
            throw new IOException($"lsetxattr {name} on {path}: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc.so.6", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lsetxattr(string path, string name, byte[] value, nuint size, int flags);
}
