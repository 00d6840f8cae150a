using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.MicroVms;

namespace Supermachine.Tasks.Tests.Cli;

/// <summary>
/// `-v NAME:/path` on `supermachine exec`: what one process writes to a named volume, the next
/// process reads, while the snapshot's own writable layer starts clean each time.
/// </summary>
public class VolumeCommandTests(BakedRedis baked) : IClassFixture<BakedRedis>
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "Supermachine.Tasks.dll");

    private async Task<ProcessResult> ExecAsync(string volumeDir, string script) =>
        await ProcessRunner.RunAsync("dotnet",
            [Cli, "exec", baked.Image.Directory, "-v", "notes:/var/lib/notes", "--volume-dir", volumeDir, "--", "sh", "-c", script],
            timeout: TimeSpan.FromMinutes(4));

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_named_volume_written_in_one_exec_is_read_in_the_next()
    {
        string volumeDir = Directory.CreateTempSubdirectory("sm-cli-volumes-").FullName;
        try
        {
            ProcessResult write = await ExecAsync(volumeDir, "echo kept > /var/lib/notes/n && echo lost > /tmp/n && cat /var/lib/notes/n");
            Assert.True(write.ExitCode == 0, write.StandardError);
            Assert.Equal("kept\n", write.StandardOutput);
            Assert.True(File.Exists(Path.Combine(volumeDir, "notes.ext4")), "the volume lives in the directory given");

            ProcessResult read = await ExecAsync(volumeDir, "cat /var/lib/notes/n; test -e /tmp/n && echo tmp-survived || echo tmp-clean");
            Assert.True(read.ExitCode == 0, read.StandardError);
            Assert.Equal("kept\ntmp-clean\n", read.StandardOutput);
        }
        finally
        {
            Directory.Delete(volumeDir, recursive: true);
        }
    }
}
