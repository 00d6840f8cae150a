using Microsoft.Build.Framework;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Guest.Staging;

namespace Supermachine.Tasks;

/// <summary>
/// The project's <c>&lt;MicroVmFile Include="init.sql" Image="pg" GuestPath="/docker-entrypoint-initdb.d/init.sql" Mode="0644" Owner="postgres" /&gt;</c>
/// items joined to the images they name (by Name, or by the MicroVmImage's Include).
/// </summary>
internal static class MicroVmFileItems
{
    /// <summary>Each request with its files added (host paths from <paramref name="projectDirectory"/>); an unknown Image is SM2354.</summary>
    public static IReadOnlyList<MicroVmImageRequest> Attach(IReadOnlyList<MicroVmImageRequest> requests, IReadOnlyList<ITaskItem> files, string projectDirectory)
    {
        var byImage = new Dictionary<MicroVmImageRequest, List<GuestFile>>();
        foreach (ITaskItem item in files)
        {
            string image = item.GetMetadata("Image").Trim();
            MicroVmImageRequest request = requests.FirstOrDefault(r => string.Equals(r.Name, image, StringComparison.OrdinalIgnoreCase))
                ?? requests.FirstOrDefault(r => r.Reference == image)
                ?? throw Errors.FileForUnknownImage(item.ItemSpec, image, requests.Count == 0 ? "(none)" : string.Join(", ", requests.Select(r => r.Name)));
            GuestFile file = StagedFileSpec.Create(request.Reference, item.ItemSpec, item.ItemSpec, item.GetMetadata("GuestPath").Trim(), item.GetMetadata("Mode"), item.GetMetadata("Owner"));
            (byImage.TryGetValue(request, out List<GuestFile>? list) ? list : byImage[request] = []).Add(file);
        }
        return requests.Select(r => byImage.TryGetValue(r, out List<GuestFile>? added) ? (r with { Files = [.. r.Files, .. added] }).WithFullPaths(projectDirectory) : r).ToArray();
    }
}
