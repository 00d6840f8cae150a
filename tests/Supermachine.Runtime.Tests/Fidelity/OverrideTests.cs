using Supermachine.Bake;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// Entrypoint, User, WorkingDir, Hostname and ShmMiB replace the image's and Docker's defaults,
/// in the restored guest and on a cold boot of the same image alike.
/// </summary>
public class OverrideTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-override-").FullName;

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Entrypoint_user_workdir_hostname_and_shm_override_the_image()
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(BakedBusybox.Reference, k => k switch
        {
            "Name" => "overridden",
            "Entrypoint" => "/bin/sh -c",
            "Command" => "'echo \"as=$(id -u):$(id -g) in=$(pwd) host=$(hostname) env=$HOSTNAME\"; exec sleep 100000'",
            "User" => "65534:65534",
            "WorkingDir" => "/tmp",
            "Hostname" => "db.example",
            "ShmMiB" => "32",
            _ => null,
        });
        var image = new MicroVmImage(await ImageBaker.BakeAsync(request, Path.Combine(_root, "overridden"), new BakeOptions { CacheDirectory = Path.Combine(_root, "cache") }));
        Assert.Equal(["/bin/sh", "-c", "echo \"as=$(id -u):$(id -g) in=$(pwd) host=$(hostname) env=$HOSTNAME\"; exec sleep 100000"], image.Manifest.Workload.Argv);
        foreach (bool coldBoot in new[] { false, true })
        {
            await using MicroVm vm = await MicroVm.StartAsync(image, new MicroVmOptions { ColdBoot = coldBoot });
            Assert.Equal(!coldBoot, vm.Restored);
            await WorkloadLogWait.UntilContainsAsync(vm, "as=65534:65534 in=/tmp host=db.example env=db.example");
            ExecResult result = await vm.ExecAsync(["sh", "-c", "id -u; pwd; hostname -i; grep ' /dev/shm ' /proc/mounts"]);
            Assert.Equal(0, result.ExitCode);
            string[] lines = result.StandardOutput.Split('\n');
            Assert.Equal(["65534", "/tmp", "127.0.0.1"], lines[..3]);
            Assert.Contains("size=32768k", lines[3]);
        }
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
