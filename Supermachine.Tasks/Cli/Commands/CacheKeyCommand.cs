using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Context;
using Supermachine.Oci.References;

namespace Supermachine.Tasks.Cli.Commands;

/// <summary>
/// Prints a CI cache key for a project's bakes: a hash of its MicroVmImage items (as MSBuild
/// evaluates them), the Dockerfiles and build contexts of Dockerfile images (by content), its lock
/// file and this tool's version, plus the host OS and architecture.
/// No network and no VM, so a CI system can compute it before restoring SupermachineCacheDir.
/// </summary>
internal static class CacheKeyCommand
{
    public static readonly CommandSpec Spec = new(
        "cache-key",
        "PROJECT",
        "Print the stable CI cache key of a project's MicroVmImage bakes (no network).",
        MinArguments: 1,
        MaxArguments: 1,
        Options: [],
        Run: RunAsync);

    private static async Task<int> RunAsync(ParsedCommand command, CancellationToken cancellationToken)
    {
        string project = Path.GetFullPath(command.Arguments[0]);
        if (!File.Exists(project))
        {
            throw new UsageException($"'{command.Arguments[0]}' is not a project file", Spec);
        }
        JsonElement evaluated = await EvaluateAsync(project, cancellationToken).ConfigureAwait(false);
        var requests = new List<MicroVmImageRequest>();
        var buildInputs = new List<string>();
        if (evaluated.GetProperty("Items").TryGetProperty("MicroVmImage", out JsonElement items))
        {
            foreach (JsonElement item in items.EnumerateArray())
            {
                string reference = item.GetProperty("Identity").GetString()!;
                MicroVmImageRequest request = MicroVmImageRequest.FromMetadata(reference, key => item.TryGetProperty(key, out JsonElement v) ? v.GetString() : null);
                requests.Add(request);
                if (request.Dockerfile is not null)
                {
                    // What a Dockerfile image is built from, by content: the same on every checkout path.
                    MicroVmImageRequest full = request.WithFullPaths(Path.GetDirectoryName(project)!);
                    buildInputs.Add(OciDigest.Compute(File.Exists(full.Dockerfile) ? File.ReadAllBytes(full.Dockerfile) : []));
                    buildInputs.Add(Directory.Exists(full.Context) ? BuildContextDirectory.Digest(BuildContextDirectory.Open(full.Context, full.Dockerfile).Entries) : "");
                }
            }
        }
        buildInputs.AddRange(StagedFileInputs(evaluated, requests, Path.GetDirectoryName(project)!));
        string lockPath = evaluated.GetProperty("Properties").GetProperty("SupermachineLockFile").GetString() ?? "";
        // Line endings differ between checkouts of the same commit; the content does not.
        string lockText = File.Exists(lockPath) ? File.ReadAllText(lockPath).Replace("\r\n", "\n") : "";
        string hash = ImageInputs.Hash(requests, [lockText, Program.Version, .. buildInputs]);
        string os = OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsMacOS() ? "osx" : "win";
        Console.WriteLine($"supermachine-{os}-{RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()}-{hash[..20]}");
        return Program.Success;
    }

    /// <summary>Files put into guests (Files metadata and MicroVmFile items): where they go and their content, never their checkout path.</summary>
    private static IEnumerable<string> StagedFileInputs(JsonElement evaluated, List<MicroVmImageRequest> requests, string projectDirectory)
    {
        string Content(string hostPath) => Path.GetFullPath(hostPath, projectDirectory) is var full && File.Exists(full) ? OciDigest.Compute(File.ReadAllBytes(full)) : "";
        foreach (MicroVmImageRequest request in requests)
        {
            foreach (Guest.Staging.GuestFile file in request.Files)
            {
                yield return $"{request.Name} {file.GuestPath} {Content(file.HostPath)}";
            }
        }
        if (evaluated.GetProperty("Items").TryGetProperty("MicroVmFile", out JsonElement files))
        {
            foreach (JsonElement item in files.EnumerateArray())
            {
                string Meta(string key) => item.TryGetProperty(key, out JsonElement v) ? v.GetString() ?? "" : "";
                yield return $"{Meta("Image")} {Meta("GuestPath")} {Meta("Mode")} {Meta("Owner")} {Content(Meta("Identity"))}";
            }
        }
    }

    private static async Task<JsonElement> EvaluateAsync(string project, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(DotnetHost.Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { "msbuild", project, "-nologo", "-getItem:MicroVmImage", "-getItem:MicroVmFile", "-getProperty:SupermachineLockFile" })
        {
            psi.ArgumentList.Add(arg);
        }
        using Process process = Process.Start(psi)!;
        Task<string> error = process.StandardError.ReadToEndAsync(cancellationToken);
        string output = await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw Errors.ProjectEvaluationFailed(project, (output + await error.ConfigureAwait(false)).Trim());
        }
        return JsonDocument.Parse(output).RootElement;
    }
}
