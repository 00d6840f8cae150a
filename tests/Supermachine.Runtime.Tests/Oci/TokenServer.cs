using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>
/// A Docker token service for the registry's <c>auth.token</c> mode: HttpListener on 127.0.0.1,
/// checks Basic credentials, and issues RS256 JWTs signed by a self-signed certificate that the
/// registry trusts (rootcertbundle) and finds in the token's <c>x5c</c> header.
/// </summary>
public sealed class TokenServer : IAsyncDisposable
{
    private readonly LoopbackHttpServer _server;
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _certificate;
    private readonly Dictionary<string, string> _users;
    private int _issued;

    public TokenServer(IReadOnlyDictionary<string, string> users, bool allowAnonymousPull)
    {
        _users = new Dictionary<string, string>(users);
        AllowAnonymousPull = allowAnonymousPull;
        var request = new CertificateRequest("CN=supermachine-test-token", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        _server = new LoopbackHttpServer(context =>
        {
            Handle(context);
            return Task.CompletedTask;
        });
        Realm = $"http://{_server.Host}/token";
    }

    public string Realm { get; }
    public string Service => "supermachine-test-registry";
    public string Issuer => "supermachine-test-issuer";
    public bool AllowAnonymousPull { get; }

    /// <summary>Tokens issued so far (to see the client's per-scope cache at work).</summary>
    public int IssuedCount => Volatile.Read(ref _issued);

    public string WriteRootCertificate(string dir)
    {
        string path = Path.Combine(dir, "token-root.pem");
        File.WriteAllText(path, _certificate.ExportCertificatePem());
        return path;
    }

    private void Handle(HttpListenerContext context)
    {
        string? user = null;
        string? header = context.Request.Headers["Authorization"];
        if (header is not null && header.StartsWith("Basic ", StringComparison.Ordinal))
        {
            string[] pair = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..])).Split(':', 2);
            if (pair.Length != 2 || !_users.TryGetValue(pair[0], out string? password) || password != pair[1])
            {
                context.Response.StatusCode = 401;
                context.Response.Close();
                return;
            }
            user = pair[0];
        }
        var access = new List<object>();
        foreach (string scope in context.Request.QueryString.GetValues("scope") ?? [])
        {
            string[] parts = scope.Split(':');
            if (parts.Length != 3 || parts[0] != "repository")
            {
                continue;
            }
            string[] granted = parts[2].Split(',').Where(a => user is not null || (AllowAnonymousPull && a == "pull")).ToArray();
            access.Add(new { type = "repository", name = parts[1], actions = granted });
        }
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string token = Sign(new { typ = "JWT", alg = "RS256", x5c = new[] { Convert.ToBase64String(_certificate.RawData) } },
            new { iss = Issuer, sub = user ?? "", aud = Service, exp = now + 300, nbf = now - 10, iat = now, jti = Guid.NewGuid().ToString("N"), access });
        Interlocked.Increment(ref _issued);
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(new { token, access_token = token, expires_in = 300, issued_at = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) });
        context.Response.ContentType = "application/json";
        context.Response.OutputStream.Write(body);
        context.Response.Close();
    }

    private string Sign(object header, object claims)
    {
        string signingInput = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        byte[] signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _certificate.Dispose();
        _key.Dispose();
    }
}
