using System.Net.Http.Headers;
using System.Security.Cryptography;
using Supermachine.Diagnostics;
using Supermachine.FileSystem;

namespace Supermachine.Dockerfile.Building;

/// <summary>
/// ADD of an http(s) URL: downloaded when the network allows (else a clear error), checked against
/// --checksum, and placed like a file named by the URL's last path segment, mode 0600 as Docker does.
/// Git URLs are not fetched.
/// </summary>
internal static class RemoteFiles
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(2) };

    public static async Task<(string Path, string Name, long ModificationTime)> DownloadAsync(string url, string? checksum, string directory, string dockerfile, int line, CancellationToken cancellationToken)
    {
        if (!url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) && !url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            throw Diagnostic.Error("SM2217", dockerfile, line, url, "only http and https URLs are fetched (git sources are not)");
        }
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, ScratchFiles.Name("add", Guid.NewGuid().ToString("N")));
        try
        {
            using HttpResponseMessage response = await Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw Diagnostic.Error("SM2217", dockerfile, line, url, $"the server answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (FileStream file = File.Create(path))
            await using (Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
            {
                byte[] buffer = new byte[1 << 16];
                int n;
                while ((n = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                }
            }
            string actual = "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
            if (checksum is not null && !string.Equals(checksum, actual, StringComparison.OrdinalIgnoreCase))
            {
                throw Diagnostic.Error("SM2220", dockerfile, line, url, checksum, actual);
            }
            string name = Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) ? Path.GetFileName(uri.AbsolutePath) : "";
            long mtime = response.Content.Headers.LastModified is DateTimeOffset modified ? modified.ToUnixTimeSeconds() : 0;
            return (path, name.Length > 0 ? Uri.UnescapeDataString(name) : "download", mtime);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            File.Delete(path);
            throw Diagnostic.Error(e, "SM2217", dockerfile, line, url, e.Message);
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }
}
