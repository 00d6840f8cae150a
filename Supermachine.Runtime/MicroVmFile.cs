using Supermachine.Diagnostics;
using Supermachine.Guest.Staging;

namespace Supermachine;

/// <summary>
/// A host file put into a guest, as the MSBuild item <c>&lt;MicroVmFile Include="init.sql" Image="pg" GuestPath="..." /&gt;</c>
/// and <c>--file HOST:GUEST</c> do at bake time. Given in <see cref="MicroVmOptions.Files"/>, it is
/// written before the workload starts on a cold boot, and right after the restore otherwise (the
/// restored workload has already started; bake the file in to have it there from the first start).
/// </summary>
/// <param name="HostPath">The content on the host (relative paths are taken from the current directory).</param>
/// <param name="GuestPath">Absolute path in the guest; missing parent directories are created.</param>
public sealed record MicroVmFile(string HostPath, string GuestPath)
{
    /// <summary>Permission bits (for example <c>0x1A4</c>, octal 0644); null is 0644.</summary>
    public int? Mode { get; init; }

    /// <summary>"uid[:gid]" or "user[:group]" as the image's /etc/passwd and /etc/group name them; null is root.</summary>
    public string? Owner { get; init; }

    /// <summary>Checked (an absolute guest path, an existing host file) and made what the agent writes.</summary>
    internal GuestFile ToGuestFile()
    {
        string host = Path.GetFullPath(HostPath);
        if (!GuestPath.StartsWith('/') || GuestPath.EndsWith('/'))
        {
            throw Errors.InvalidFileSpec(host, GuestPath, "an absolute guest file path");
        }
        return File.Exists(host) ? new GuestFile(host, GuestPath, Mode, Owner) : throw Errors.FileToStageNotFound(host, host, GuestPath);
    }
}
