using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Supermachine.Bake;

/// <summary>
/// A stable hash of what a project asks to bake (every request and its metadata, in order). The
/// SDK's incremental check and `supermachine cache-key` both stand on it, so they agree.
/// </summary>
internal static class ImageInputs
{
    public static string Hash(IEnumerable<MicroVmImageRequest> requests, params string[] extra)
    {
        var text = new StringBuilder();
        foreach (MicroVmImageRequest r in requests)
        {
            // JSON of the record: every property, in declaration order, escaped.
            text.Append(JsonSerializer.Serialize(r)).Append('\n');
        }
        foreach (string e in extra)
        {
            text.Append(e).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
