using System.Diagnostics;
using Supermachine.Guest;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Guest;

public class CpioWriterTests
{
    private static byte[] Build()
    {
        var output = new MemoryStream();
        using (var cpio = new CpioWriter(output, leaveOpen: true))
        {
            cpio.AddDirectory("bin");
            cpio.AddFile("bin/hello", "hi there\n"u8, mode: 0x1ED);
            cpio.AddSymlink("bin/sh", "hello");
            cpio.AddDirectory("dev");
            cpio.AddCharacterDevice("dev/console", 5, 1);
        }
        return output.ToArray();
    }

    [Fact]
    public void Same_entries_give_the_same_bytes_padded_to_512()
    {
        byte[] a = Build();
        Assert.Equal(a, Build());
        Assert.Equal(0, a.Length % 512);
        Assert.Equal("070701"u8.ToArray(), a[..6]);
    }

    [Fact]
    public void Unclean_paths_are_refused()
    {
        using var cpio = new CpioWriter(new MemoryStream());
        Assert.Throws<ArgumentException>(() => cpio.AddFile("../etc/passwd", "x"u8));
        Assert.Throws<ArgumentException>(() => cpio.AddFile("a//b", "x"u8));
    }

    [RequiresToolFact("cpio")]
    public void Gnu_cpio_lists_and_extracts_what_we_wrote()
    {
        string dir = Directory.CreateTempSubdirectory("cpio-test").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "a.cpio"), Build());
            var psi = new ProcessStartInfo("cpio", "-i --no-absolute-filenames -F a.cpio") { WorkingDirectory = dir, RedirectStandardError = true };
            using (var p = Process.Start(psi)!)
            {
                p.WaitForExit();
                Assert.Equal(0, p.ExitCode);
            }
            Assert.Equal("hi there\n", File.ReadAllText(Path.Combine(dir, "bin/hello")));
            Assert.Equal("hello", new FileInfo(Path.Combine(dir, "bin/sh")).LinkTarget);
            Assert.True((File.GetUnixFileMode(Path.Combine(dir, "bin/hello")) & UnixFileMode.UserExecute) != 0);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
