using System.Globalization;
using Supermachine.Diagnostics;
using Supermachine.Guest.Staging;

namespace Supermachine.Bake;

/// <summary>
/// The text form of a file to put into the guest: <c>HOST_PATH:GUEST_PATH[:MODE[:OWNER]]</c>, as
/// <c>--file</c> and the Files metadata take it. The guest path is absolute, so it starts at the
/// last ":/"; a mode is octal (0644); an owner is uid[:gid] or user[:group] of the image.
/// </summary>
internal static class StagedFileSpec
{
    public static IReadOnlyList<GuestFile> ParseList(string reference, string? text) =>
        string.IsNullOrWhiteSpace(text) ? [] : text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => Parse(reference, s)).ToArray();

    public static GuestFile Parse(string reference, string spec)
    {
        int split = spec.LastIndexOf(":/", StringComparison.Ordinal);
        if (split <= 0)
        {
            throw Errors.InvalidFileSpec(reference, spec, "HOST_PATH:GUEST_PATH with an absolute guest path");
        }
        string host = spec[..split];
        string[] rest = spec[(split + 1)..].Split(':', 3);
        return Create(reference, spec, host, rest[0], rest.Length > 1 ? rest[1] : null, rest.Length > 2 ? rest[2] : null);
    }

    /// <summary>A file from its parts (a MicroVmFile item's Include, GuestPath, Mode and Owner), checked.</summary>
    public static GuestFile Create(string reference, string what, string host, string guest, string? mode, string? owner)
    {
        if (string.IsNullOrWhiteSpace(host))
        {
            throw Errors.InvalidFileSpec(reference, what, "given a host path");
        }
        if (!guest.StartsWith('/') || guest.EndsWith('/') || guest.Contains('\0') || guest.Split('/').Any(p => p is ".." or "."))
        {
            throw Errors.InvalidFileSpec(reference, what, $"given an absolute guest file path ('{guest}' is not one)");
        }
        int? bits = null;
        if (!string.IsNullOrWhiteSpace(mode))
        {
            try
            {
                bits = Convert.ToInt32(mode.Trim(), 8);
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                throw Errors.InvalidFileSpec(reference, what, $"given an octal mode ('{mode}' is not one)", cause: e);
            }
            if (bits is < 0 or > 0xFFF)
            {
                throw Errors.InvalidFileSpec(reference, what, $"given an octal mode up to 7777 ('{mode}' is not one)");
            }
        }
        string? who = string.IsNullOrWhiteSpace(owner) ? null : owner.Trim();
        if (who is not null && (who.Split(':').Length > 2 || who.Split(':').Any(p => p.Length == 0 || p.Any(char.IsWhiteSpace))))
        {
            throw Errors.InvalidFileSpec(reference, what, $"given an owner as user[:group] ('{owner}' is not one)");
        }
        return new GuestFile(host, guest, bits, who);
    }

    /// <summary>Host paths made absolute from <paramref name="baseDirectory"/>; a missing file is SM2351.</summary>
    public static IReadOnlyList<GuestFile> WithFullPaths(string reference, IReadOnlyList<GuestFile> files, string baseDirectory) =>
        files.Select(f =>
        {
            string full = Path.GetFullPath(f.HostPath, baseDirectory);
            return File.Exists(full) ? f with { HostPath = full } : throw Errors.FileToStageNotFound(reference, full, f.GuestPath);
        }).ToArray();

    /// <summary>The text form again (for the host's command line).</summary>
    public static string Format(GuestFile file) =>
        $"{file.HostPath}:{file.GuestPath}" + (file.Mode is int m ? ":" + Convert.ToString(m, 8).PadLeft(4, '0') : file.Owner is null ? "" : ":") + (file.Owner is string o ? ":" + o : "");

    /// <summary>For the fingerprint: where, how and the sha256 of the content.</summary>
    public static string Identity(GuestFile file) =>
        string.Create(CultureInfo.InvariantCulture, $"{file.GuestPath} mode={file.Mode?.ToString(CultureInfo.InvariantCulture) ?? ""} owner={file.Owner ?? ""} sha256:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file.HostPath)))}");
}
