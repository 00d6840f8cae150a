using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Supermachine.Diagnostics;

namespace Supermachine.Oci.References;

/// <summary>Content digests (<c>sha256:hex</c>): validation, computation, and the hex part used as a file name.</summary>
internal static partial class OciDigest
{
    public static bool IsValid(string? digest) => digest is not null && DigestPattern().IsMatch(digest);

    /// <summary>The hex part of a validated sha256 digest. Validation matters: it becomes a file name in the store.</summary>
    public static string Hex(string digest)
    {
        if (!IsValid(digest))
        {
            throw Errors.InvalidDigest(digest);
        }
        return digest[(digest.IndexOf(':') + 1)..];
    }

    public static string Compute(ReadOnlySpan<byte> content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    public static string FromHash(byte[] hash) => "sha256:" + Convert.ToHexStringLower(hash);

    [GeneratedRegex("^sha256:[a-f0-9]{64}$")]
    private static partial Regex DigestPattern();
}
