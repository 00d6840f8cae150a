using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Context;

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

    /// <summary>Directories whose files never count as build inputs (the project's bin and obj: they change with every build).</summary>
    public string[] ExcludedInputDirectories { get; set; } = [];

    /// <summary>The MicroVmFile items: host files put into an image's guest before its workload starts.</summary>
    public ITaskItem[] Files { get; set; } = [];

    [Output]
    public ITaskItem[] ResolvedImages { get; private set; } = [];

    /// <summary>Files a Dockerfile image is built from (the Dockerfile, the context minus .dockerignore): the bake reruns when one changes.</summary>
    [Output]
    public ITaskItem[] InputFiles { get; private set; } = [];

    /// <summary>A hash of every item and its metadata: the bake target's input stamp changes only when this does.</summary>
    [Output]
    public string InputsHash { get; private set; } = "";

    public override bool Execute()
    {
        try
        {
            string projectDirectory = Path.GetDirectoryName(Path.GetFullPath(ProjectFile.Length == 0 ? "." : ProjectFile))!;
            var requests = Images.Select(i => MicroVmImageRequest.FromMetadata(i.ItemSpec, i.GetMetadata).WithFullPaths(projectDirectory)).ToList();
            MicroVmImageRequest.EnsureUniqueNames(requests);
            requests = [.. MicroVmFileItems.Attach(requests, Files, projectDirectory)];
            ResolvedImages = Images.Zip(requests, (item, request) =>
            {
                var resolved = new TaskItem(item);
                resolved.SetMetadata("Name", request.Name);
                resolved.SetMetadata("ArtifactDirectory", Path.Combine(ArtifactsDirectory, request.Name) + Path.DirectorySeparatorChar);
                // Absolute paths, the item's own Files metadata and the MicroVmFile items together: what the host is given.
                resolved.SetMetadata("Files", string.Join(';', request.Files.Select(StagedFileSpec.Format)));
                if (request.Dockerfile is not null)
                {
                    // Paths relative to the project, made absolute here so the host (another working directory) reads the same files.
                    resolved.SetMetadata("Dockerfile", request.Dockerfile);
                    resolved.SetMetadata("Context", request.Context);
                }
                return (ITaskItem)resolved;
            }).ToArray();
            InputsHash = ImageInputs.Hash(requests);
            string[] excluded = ExcludedInputDirectories.Select(d => Path.TrimEndingDirectorySeparator(Path.GetFullPath(d, projectDirectory)) + Path.DirectorySeparatorChar).ToArray();
            InputFiles = requests
                .Where(r => r.Dockerfile is not null)
                .SelectMany(r => BuildContextDirectory.Open(r.Context!, r.Dockerfile).ListInputFiles().Append(r.Dockerfile!))
                .Concat(requests.SelectMany(r => r.Files.Select(f => f.HostPath)))
                .Where(f => !excluded.Any(d => f.StartsWith(d, StringComparison.Ordinal)))
                .Distinct(StringComparer.Ordinal)
                .Select(f => (ITaskItem)new TaskItem(f))
                .ToArray();
            return true;
        }
        catch (SupermachineException e)
        {
            TaskLog.Error(Log, e, ProjectFile);
            return false;
        }
    }
}
