namespace Supermachine.Locations;

/// <summary>
/// The one place that knows where things live in the cache (SUPERMACHINE_CACHE, else
/// $XDG_CACHE_HOME/supermachine or ~/.cache/supermachine): blobs and their temp and lock files,
/// baked images, verification stamps and the Dockerfile builder's files. Every other type asks here.
/// </summary>
internal sealed record CacheLayout(string Root)
{
    /// <summary>The cache at <paramref name="root"/>, or the default one when null.</summary>
    public static CacheLayout At(string? root) => new(Path.GetFullPath(root ?? DefaultRoot()));

    public static string DefaultRoot()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("SUPERMACHINE_CACHE");
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            return fromEnv;
        }
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string baseDir = !string.IsNullOrWhiteSpace(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(baseDir, "supermachine");
    }

    /// <summary>Content-addressed blobs, one file per sha256 hex digest.</summary>
    public string Blobs => Path.Combine(Root, "blobs", "sha256");

    /// <summary>Blobs being written, renamed into <see cref="Blobs"/> once verified.</summary>
    public string BlobTemp => Path.Combine(Root, "tmp");

    /// <summary>Cross-process lock files (blobs, bake entries, project lock files).</summary>
    public string Locks => Path.Combine(Root, "locks");

    /// <summary>Named volumes (NAME.ext4, sparse ext4 disk files) that live across runs.</summary>
    public string Volumes => Path.Combine(Root, "volumes");

    /// <summary>Baked images keyed by bake fingerprint.</summary>
    public string Bakes => Path.Combine(Root, "bakes");

    /// <summary>Stamps of image directories whose files were hashed and found intact.</summary>
    public string VerificationStamps => Path.Combine(Root, "verified");

    /// <summary>The Dockerfile builder's step results, root images, scratch files and build-VM initramfs.</summary>
    public string Dockerfile(string part) => Path.Combine(Root, "dockerfile", part);
}
