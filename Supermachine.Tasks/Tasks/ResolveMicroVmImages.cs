using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Supermachine.Bake;
using Supermachine.Diagnostics;

namespace Supermachine.Tasks;

/// <summary>
/// Validates the project's MicroVmImage items and gives each its Name and ArtifactDirectory. Runs
/// in the MSBuild node because it is pure bookkeeping: no network, no VM.
/// </summary>
public sealed class ResolveMicroVmImages : Microsoft.Build.Utilities.Task
{
    [Required]
    public ITaskItem[] Images { get; set; } = [];

    [Required]
    public string ArtifactsDirectory { get; set; } = "";

    public string ProjectFile { get; set; } = "";

    [Output]
    public ITaskItem[] ResolvedImages { get; private set; } = [];

    /// <summary>A hash of every item and its metadata: the bake target's input stamp changes only when this does.</summary>
    [Output]
    public string InputsHash { get; private set; } = "";

    public override bool Execute()
    {
        try
        {
            var requests = Images.Select(i => MicroVmImageRequest.FromMetadata(i.ItemSpec, i.GetMetadata)).ToList();
            MicroVmImageRequest.EnsureUniqueNames(requests);
            ResolvedImages = Images.Zip(requests, (item, request) =>
            {
                var resolved = new TaskItem(item);
                resolved.SetMetadata("Name", request.Name);
                resolved.SetMetadata("ArtifactDirectory", Path.Combine(ArtifactsDirectory, request.Name) + Path.DirectorySeparatorChar);
                return (ITaskItem)resolved;
            }).ToArray();
            InputsHash = ImageInputs.Hash(requests);
            return true;
        }
        catch (SupermachineException e)
        {
            TaskLog.Error(Log, e, ProjectFile);
            return false;
        }
    }
}
