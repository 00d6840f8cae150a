using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.MicroVms;

namespace Supermachine.Tasks.Tests.Cli;

/// <summary>
/// `-v NAME:/path` on `supermachine exec`: what one process writes to a named volume, the next
/// process reads, while the snapshot's own writable layer starts clean each time. The fresh volume's
/// root takes the owner of the /data it covers (root in this fixture), so the execs run as root.
/// </summary>
public class VolumeCommandTests(BakedRedis baked) : IClassFixture<BakedRedis>
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "Supermachine.Tasks.dll");

    private async Task<ProcessResult> ExecAsync(string volumeDir, string script) =>
        await ProcessRunner.RunAsync("dotnet",
            [Cli, "exec", baked.Image.Directory, "-v", "notes:/data", "--volume-dir", volumeDir, "--user", "root", "--", "sh", "-c", script],
            timeout: TimeSpan.FromMinutes(4));

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_named_volume_written_in_one_exec_is_read_in_the_next()
    {
        string volumeDir = Directory.CreateTempSubdirectory("sm-cli-volumes-").FullName;
        try
        {
            ProcessResult write = await ExecAsync(volumeDir, "echo kept > /data/n && echo lost > /tmp/n && cat /data/n");
            Assert.True(write.ExitCode == 0, write.StandardError);
            Assert.Equal("kept\n", write.StandardOutput);
            Assert.True(File.Exists(Path.Combine(volumeDir, "notes.ext4")), "the volume lives in the directory given");

            ProcessResult read = await ExecAsync(volumeDir, "cat /data/n; test -e /tmp/n && echo tmp-survived || echo tmp-clean");
            Assert.True(read.ExitCode == 0, read.StandardError);
            Assert.Equal("kept\ntmp-clean\n", read.StandardOutput);
        }
        finally
        {
            Directory.Delete(volumeDir, recursive: true);
        }
    }
}
