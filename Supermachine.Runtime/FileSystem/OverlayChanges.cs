namespace Supermachine.FileSystem;

/// <summary>
/// Applies the upper directory of an overlayfs mount to a lower tree: the commit of a Dockerfile
/// build's changes (tmpfs upper) onto its base image. Overlayfs marks a deletion with a whiteout
/// (a character device 0/0) and a directory that hides everything below it with the
/// <c>trusted.overlay.opaque</c> attribute; neither marker reaches the result.
/// </summary>
internal static class OverlayChanges
{
    private const string OpaqueAttribute = "trusted.overlay.opaque";

    /// <summary>
    /// The lower entries the upper layer leaves visible, then every upper entry but the markers. A
    /// consumer that lets a later entry replace an earlier one at the same path (the squashfs writer
    /// does) gets the merged tree.
    /// </summary>
    public static async IAsyncEnumerable<FileSystemEntry> ApplyAsync(
        IAsyncEnumerable<FileSystemEntry> lower,
        string upperDirectory,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        List<FileSystemEntry> upper = DirectoryTreeReader.Read(upperDirectory).ToList();
        var deleted = new HashSet<string>(StringComparer.Ordinal);
        var opaque = new HashSet<string>(StringComparer.Ordinal);
        var replacedByNonDirectory = new HashSet<string>(StringComparer.Ordinal);
        foreach (FileSystemEntry entry in upper)
        {
            if (IsWhiteout(entry))
            {
                deleted.Add(entry.Path);
            }
            else if (entry.Type != FileSystemEntryType.Directory)
            {
                replacedByNonDirectory.Add(entry.Path);
            }
            else if (entry.ExtendedAttributes.TryGetValue(OpaqueAttribute, out byte[]? value) && value is [(byte)'y', ..])
            {
                opaque.Add(entry.Path);
            }
        }

        await foreach (FileSystemEntry entry in lower.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (!IsHidden(entry.Path, deleted, opaque, replacedByNonDirectory))
            {
                yield return entry;
            }
        }
        foreach (FileSystemEntry entry in upper)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (IsWhiteout(entry) || entry.Path.Length == 0)
            {
                continue;
            }
            yield return entry.ExtendedAttributes.ContainsKey(OpaqueAttribute)
                ? entry with { ExtendedAttributes = entry.ExtendedAttributes.Where(a => a.Key != OpaqueAttribute).ToDictionary(a => a.Key, a => a.Value) }
                : entry;
        }
    }

    private static bool IsWhiteout(FileSystemEntry entry) =>
        entry.Type == FileSystemEntryType.CharacterDevice && entry.DeviceMajor == 0 && entry.DeviceMinor == 0;

    // Hidden: deleted itself or below a deleted path; strictly below an opaque directory; or below
    // a path the upper layer turned into something that is not a directory.
    private static bool IsHidden(string path, HashSet<string> deleted, HashSet<string> opaque, HashSet<string> replacedByNonDirectory)
    {
        if (path.Length == 0)
        {
            return false;
        }
        if (deleted.Contains(path))
        {
            return true;
        }
        for (int slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
        {
            string ancestor = path[..slash];
            if (deleted.Contains(ancestor) || opaque.Contains(ancestor) || replacedByNonDirectory.Contains(ancestor))
            {
                return true;
            }
        }
        return false;
    }
}
