using Supermachine.Bake;
using Supermachine.Locations;
using Supermachine.Diagnostics;
using Supermachine.Oci.Locking;
using Supermachine.Oci.Manifests;
using Supermachine.Oci.References;
using Supermachine.Oci.Storage;

namespace Supermachine.Tasks.Cli.Commands;

/// <summary>Command-line options to the same <see cref="MicroVmImageRequest"/> an MSBuild item makes, validated the same way.</summary>
internal static class ImageRequests
{
    /// <summary>The request of `bake IMAGE` or, with <paramref name="buildContext"/>, of `build CONTEXT` (-f, --build-arg, --target).</summary>
    public static MicroVmImageRequest FromCommandLine(ParsedCommand command, string reference, string? buildContext = null)
    {
        // exec's words after "--" are its command's; the image it starts keeps its own workload.
        string? cmd = command.Trailing.Count > 0 && command.Spec.Name != "exec"
            ? string.Join(' ', command.Trailing.Select(Quote))
            : command.Value("cmd");
        var metadata = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Name"] = command.Value("name"),
            ["Port"] = command.Value("port"),
            ["Env"] = MetadataList.Join(command.Values("env")),
            ["Command"] = cmd,
            ["MemoryMiB"] = command.Value("memory"),
            ["Vcpus"] = command.Value("vcpus"),
            ["DiskMiB"] = command.Value("disk"),
            ["Platform"] = command.Value("platform"),
            ["Network"] = command.Value("network"),
            ["Aliases"] = string.Join(';', command.Values("alias")),
            ["HostPorts"] = string.Join(';', command.Values("host-port")),
            ["Entrypoint"] = command.Value("entrypoint"),
            ["Hostname"] = command.Value("hostname"),
            ["ShmMiB"] = command.Value("shm"),
            ["StopTimeout"] = command.Value("stop-timeout"),
            ["Profile"] = command.Value("profile"),
            ["ConnectionString"] = command.Value("connection-string"),
        };
        // bake and build record volumes and mounts in the image; exec and run take -v for their own start.
        if (command.Spec.Name is "bake" or "build")
        {
            metadata["Volumes"] = string.Join(';', command.Values("volume"));
            metadata["Mounts"] = string.Join(';', command.Values("mount"));
        }
        // exec's --user and --workdir are the command's, not the workload's.
        if (command.Spec.Name != "exec")
        {
            metadata["User"] = command.Value("user");
            metadata["WorkingDir"] = command.Value("workdir");
        }
        ReadinessOptions.AddMetadata(command, metadata, build: buildContext is not null);
        if (buildContext is not null)
        {
            metadata["Dockerfile"] = command.Value("file") ?? Path.Combine(buildContext, "Dockerfile");
            metadata["Context"] = buildContext;
            metadata["BuildArgs"] = MetadataList.Join(command.Values("build-arg"));
            metadata["BuildTarget"] = command.Value("target");
            // build --network none: no network for RUN, nor in the VM it bakes (a private network
            // is the baking VM's alone); --build-network
            // (what the SDK passes for BuildNetwork) sets RUN's alone.
            metadata["BuildNetwork"] = command.Value("build-network") ?? (command.Value("network") is "none" ? "none" : null);
        }
        return MicroVmImageRequest.FromMetadata(reference, key => metadata.GetValueOrDefault(key)).WithFullPaths(Environment.CurrentDirectory);
    }

    /// <summary>The lock mode the SDK passes to the host: Default (record new resolutions), Locked (refuse unrecorded ones) or Refresh.</summary>
    public static string LockMode => Environment.GetEnvironmentVariable("SUPERMACHINE_LOCK_MODE") is { Length: > 0 } m ? m : "Default";

    private static string? LockFilePath => Environment.GetEnvironmentVariable("SUPERMACHINE_LOCK_FILE") is { Length: > 0 } p ? p : null;

    /// <summary>The lock file the SDK passes to the host, or null when baking by hand; Locked mode refuses a reference it lacks (SM2305).</summary>
    public static ImageLockFile? LoadLockFile(MicroVmImageRequest request)
    {
        if (LockFilePath is not string path)
        {
            return null;
        }
        ImageLockFile lockFile = ImageLockFile.Load(path);
        if (LockMode == "Locked" && Lockable(request) is ImageReference reference && lockFile.TryGet(reference, PlatformOf(request)) is null)
        {
            throw Errors.ImageNotLocked(request.Reference, path);
        }
        return lockFile;
    }

    /// <summary>
    /// Records the digest a bake resolved. Parallel bakes of one project share the lock file, so each
    /// merges its own entry into the current file under a cross-process lock.
    /// </summary>
    public static async Task RecordAsync(MicroVmImageRequest request, string digest, CancellationToken cancellationToken)
    {
        if (LockFilePath is not string path || LockMode == "Locked" || Lockable(request) is not ImageReference reference)
        {
            return;
        }
        // The lock lives in the cache, not beside the user's lock file: nothing but microvms.lock.json is written into the project.
        string guardPath = Path.Combine(CacheLayout.At(null).Locks, "lockfile-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(path))))[..32] + ".lock");
        await using FileStream guard = await FileLock.AcquireAsync(guardPath, cancellationToken).ConfigureAwait(false);
        ImageLockFile current = ImageLockFile.Load(path);
        current.Set(reference, PlatformOf(request), digest);
        if (current.IsChanged)
        {
            await current.SaveAsync(path, cancellationToken).ConfigureAwait(false);
        }
    }

    // Only registry references by tag resolve to something that can change; local sources and digests cannot.
    // A Dockerfile image is named, not resolved: its digest is what it builds to.
    private static ImageReference? Lockable(MicroVmImageRequest request) =>
        request.Dockerfile is null
        && !request.Reference.Contains("-layout:", StringComparison.Ordinal) && !request.Reference.Contains("-archive:", StringComparison.Ordinal)
        && ImageReference.TryParse(request.Reference, out ImageReference? parsed, out _) && parsed.Digest is null ? parsed : null;

    private static string PlatformOf(MicroVmImageRequest request) =>
        (request.Platform is string p ? Platform.Parse(p) : Platform.Host).ToString();

    private static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@%+".Contains(c)) ? word : "'" + word.Replace("'", "'\\''") + "'";
}
