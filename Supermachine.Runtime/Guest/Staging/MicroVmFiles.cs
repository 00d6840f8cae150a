using Supermachine.Diagnostics;

namespace Supermachine.Guest.Staging;

/// <summary>The public <see cref="MicroVmFile"/> checked and turned into what the agent writes.</summary>
internal static class MicroVmFiles
{
    public static GuestFile ToGuestFile(MicroVmFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string host = Path.GetFullPath(file.HostPath);
        if (!file.GuestPath.StartsWith('/') || file.GuestPath.EndsWith('/'))
        {
            throw Errors.InvalidFileSpec(host, file.GuestPath, "an absolute guest file path");
        }
        if (!File.Exists(host))
        {
            throw Errors.FileToStageNotFound(host, host, file.GuestPath);
        }
        return new GuestFile(host, file.GuestPath, file.Mode, file.Owner);
    }
}
