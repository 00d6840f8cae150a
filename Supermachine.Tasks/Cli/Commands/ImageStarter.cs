using Supermachine.Bake;
using Supermachine.FileSystem;
using Supermachine.Images;

namespace Supermachine.Tasks.Cli.Commands;

/// <summary>
/// What exec and run start: a baked directory (restored when it has a snapshot), or an image
/// reference baked first into a temporary cold-bootable directory.
/// </summary>
internal static class ImageStarter
{
    private const string TemporaryKind = "supermachine";

    public static async Task<(MicroVm Vm, string? Temporary)> StartAsync(ParsedCommand command, string target, CancellationToken cancellationToken)
    {
        string? temporary = null;
        MicroVmImage image;
        if (File.Exists(Path.Combine(target, SnapshotManifest.FileName)))
        {
            image = MicroVmImage.Load(target);
        }
        else
        {
            // Named after this process, so a later run removes it if this one is killed.
            ScratchFiles.DeleteOrphans(Path.GetTempPath(), TemporaryKind);
            temporary = Path.Combine(Path.GetTempPath(), ScratchFiles.Name(TemporaryKind, Guid.NewGuid().ToString("N")[..8]));
            image = new MicroVmImage(await ImageBaker.BakeAsync(ImageRequests.FromCommandLine(command, target), temporary, new BakeOptions
            {
                Snapshot = false,
                Progress = HostOutput.VerboseDetail,
                Detail = HostOutput.VerboseDetail,
            }, cancellationToken).ConfigureAwait(false));
        }
        try
        {
            var options = new MicroVmOptions
            {
                Network = MicroVmImageRequest.NetworkMode(target, "--network", command.Value("network")),
                Aliases = [.. command.Values("alias")],
                HostPorts = MicroVmImageRequest.PortList(target, "--host-port", string.Join(';', command.Values("host-port"))),
                // -v is either kind, as in docker run; MicroVm checks each (SM237x).
                Volumes = [.. command.Values("volume").Where(v => !v.StartsWith('/'))],
                Mounts = [.. command.Values("volume").Where(v => v.StartsWith('/'))],
                VolumeDirectory = command.Value("volume-dir"),
                Logger = new HostLogger(HostOutput.VerboseDetail),
                Warning = HostOutput.Warning,
            };
            MicroVm vm = await MicroVm.StartAsync(image, options, cancellationToken).ConfigureAwait(false);
            HostOutput.VerboseDetail($"{(vm.Restored ? "restored" : "booted")} {image.Name} in {vm.StartDuration.TotalMilliseconds:F0} ms");
            return (vm, temporary);
        }
        catch
        {
            Cleanup(temporary);
            throw;
        }
    }

    public static void Cleanup(string? temporary)
    {
        if (temporary is not null)
        {
            SnapshotDirectory.DeleteIfPresent(temporary);
        }
    }
}
