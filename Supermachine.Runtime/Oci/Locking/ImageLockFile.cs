using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Supermachine.Diagnostics;
using Supermachine.Oci.References;

namespace Supermachine.Oci.Locking;

/// <summary>
/// <c>microvms.lock.json</c>: each image reference resolved to a manifest digest per platform, the
/// way packages.lock.json pins NuGet versions. A locked entry is pulled by digest, so a moved tag
/// cannot change what a build bakes. Written with sorted keys and fixed formatting so that it
/// diffs cleanly and an unchanged resolution rewrites identical bytes.
/// </summary>
internal sealed class ImageLockFile
{
    public const string FileName = "microvms.lock.json";
    public const int CurrentVersion = 1;

    private readonly SortedDictionary<string, SortedDictionary<string, string>> _images = new(StringComparer.Ordinal);

    /// <summary>Reference (normal form, without digest) → platform (<c>linux/amd64</c>) → manifest digest.</summary>
    public IReadOnlyDictionary<string, SortedDictionary<string, string>> Images => _images;

    public bool IsChanged { get; private set; }

    public static ImageLockFile Load(string path)
    {
        var file = new ImageLockFile();
        if (!File.Exists(path))
        {
            return file;
        }
        try
        {
            JsonNode? root = JsonNode.Parse(File.ReadAllText(path));
            int version = root?["version"]?.GetValue<int>() ?? 0;
            if (version != CurrentVersion)
            {
                throw Errors.InvalidLockFile(path, $"version {version} is not the supported version {CurrentVersion}");
            }
            if (root!["images"] is JsonObject images)
            {
                foreach (var (reference, platforms) in images)
                {
                    foreach (var (platform, digest) in platforms?.AsObject() ?? [])
                    {
                        string value = digest?.GetValue<string>() ?? "";
                        if (!OciDigest.IsValid(value))
                        {
                            throw Errors.InvalidLockFile(path, $"'{reference}' {platform} has the invalid digest '{value}'");
                        }
                        file.Set(reference, platform, value);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw Errors.InvalidLockFile(path, ex.Message, cause: ex);
        }
        file.IsChanged = false;
        return file;
    }

    /// <summary>The locked manifest digest, or null.</summary>
    public string? TryGet(ImageReference reference, string platform) =>
        _images.TryGetValue(Key(reference), out var byPlatform) && byPlatform.TryGetValue(platform, out string? digest) ? digest : null;

    public void Set(ImageReference reference, string platform, string digest) => Set(Key(reference), platform, digest);

    private void Set(string key, string platform, string digest)
    {
        if (!_images.TryGetValue(key, out var byPlatform))
        {
            _images[key] = byPlatform = new SortedDictionary<string, string>(StringComparer.Ordinal);
        }
        if (!byPlatform.TryGetValue(platform, out string? old) || old != digest)
        {
            byPlatform[platform] = digest;
            IsChanged = true;
        }
    }

    public bool Remove(ImageReference reference) => IsChanged |= _images.Remove(Key(reference));

    /// <summary>The file's text: two-space indentation, sorted keys, '\n' line ends, final newline.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, IndentSize = 2, NewLine = "\n" }))
        {
            writer.WriteStartObject();
            writer.WriteNumber("version", CurrentVersion);
            writer.WriteStartObject("images");
            foreach (var (reference, platforms) in _images)
            {
                writer.WriteStartObject(reference);
                foreach (var (platform, digest) in platforms)
                {
                    writer.WriteString(platform, digest);
                }
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>Writes atomically (temp file and rename) so a reader never sees half a lock file.</summary>
    public async Task SaveAsync(string path, CancellationToken cancellationToken = default)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        await File.WriteAllTextAsync(temp, ToJson(), new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
        IsChanged = false;
    }

    private static string Key(ImageReference reference) => (reference with { Digest = null }).ToString();
}
