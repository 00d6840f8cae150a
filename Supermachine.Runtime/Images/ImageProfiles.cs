using Supermachine.Oci.References;

namespace Supermachine.Images;

/// <summary>
/// Defaults for a well-known image: what a user would otherwise have to look up (port,
/// environment, readiness, memory, client connection string). Each field is a default only:
/// the item's metadata (or the command line's option) replaces it.
/// </summary>
internal sealed record ImageProfile
{
    public required string Name { get; init; }

    /// <summary>Repository paths it matches by their end: "postgres" matches docker.io/library/postgres and 127.0.0.1:5000/x/postgres.</summary>
    public required IReadOnlyList<string> Repositories { get; init; }

    public required int Port { get; init; }

    /// <summary>Environment set when the item does not set the same name.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    /// <summary>A variable the user must set themselves (a licence acceptance); the bake refuses without it.</summary>
    public string? RequiredOptIn { get; init; }

    public string? WaitForLog { get; init; }

    public int? WaitForLogTimes { get; init; }

    public string? WaitForHttp { get; init; }

    public string? WaitForCommand { get; init; }

    public string? Command { get; init; }

    /// <summary>Guest RAM when the server needs more than the default 256 MiB.</summary>
    public int? MemoryMiB { get; init; }

    /// <summary>
    /// The client connection string: {host} and {port} are filled in when a VM runs, {env:NAME} from
    /// the workload's environment when it is baked (so an item's own password is what the string carries).
    /// </summary>
    public required string ConnectionFormat { get; init; }
}

/// <summary>
/// The one table of image profiles (the README lists the same rows). Matched by repository name
/// under any registry or namespace; <c>Profile="none"</c> turns matching off, <c>Profile="NAME"</c>
/// picks one by name for an image whose repository is named otherwise.
/// </summary>
internal static class ImageProfiles
{
    /// <summary>The documented password every profile uses: the VMs are reachable from this host's loopback only.</summary>
    public const string DefaultPassword = "Supermachine1";

    /// <summary>The metadata value that turns profiles off.</summary>
    public const string None = "none";

    private static KeyValuePair<string, string> Env(string name, string value) => new(name, value);

    public static IReadOnlyList<ImageProfile> All { get; } =
    [
        new()
        {
            Name = "postgres", Repositories = ["postgres"], Port = 5432,
            Environment = [Env("POSTGRES_PASSWORD", DefaultPassword)],
            // The entrypoint's first-run server listens on a socket only; pg_isready over TCP answers the real one.
            WaitForCommand = "if command -v pg_isready >/dev/null; then pg_isready -q -h 127.0.0.1 -p 5432; fi",
            ConnectionFormat = "Host={host};Port={port};Username={env:POSTGRES_USER:postgres};Password={env:POSTGRES_PASSWORD};Database={env:POSTGRES_DB:{env:POSTGRES_USER:postgres}}",
        },
        new()
        {
            Name = "mysql", Repositories = ["mysql"], Port = 3306,
            Environment = [Env("MYSQL_ROOT_PASSWORD", DefaultPassword), Env("MYSQL_DATABASE", "test")],
            MemoryMiB = 1024,
            ConnectionFormat = "Server={host};Port={port};User ID=root;Password={env:MYSQL_ROOT_PASSWORD};Database={env:MYSQL_DATABASE}",
        },
        new()
        {
            Name = "mariadb", Repositories = ["mariadb"], Port = 3306,
            Environment = [Env("MARIADB_ROOT_PASSWORD", DefaultPassword), Env("MARIADB_DATABASE", "test")],
            MemoryMiB = 512,
            ConnectionFormat = "Server={host};Port={port};User ID=root;Password={env:MARIADB_ROOT_PASSWORD};Database={env:MARIADB_DATABASE}",
        },
        new() { Name = "redis", Repositories = ["redis"], Port = 6379, ConnectionFormat = "{host}:{port}" },
        new() { Name = "valkey", Repositories = ["valkey"], Port = 6379, ConnectionFormat = "{host}:{port}" },
        new()
        {
            Name = "mongo", Repositories = ["mongo"], Port = 27017,
            Environment = [Env("MONGO_INITDB_ROOT_USERNAME", "root"), Env("MONGO_INITDB_ROOT_PASSWORD", DefaultPassword)],
            // With a root user the entrypoint runs a temporary mongod on the same port first: the second "Waiting" is the real one.
            WaitForLog = "Waiting for connections", WaitForLogTimes = 2,
            MemoryMiB = 1024,
            ConnectionFormat = "mongodb://{env:MONGO_INITDB_ROOT_USERNAME}:{env:MONGO_INITDB_ROOT_PASSWORD}@{host}:{port}/?authSource=admin",
        },
        new()
        {
            Name = "rabbitmq", Repositories = ["rabbitmq"], Port = 5672,
            Environment = [Env("RABBITMQ_DEFAULT_USER", "rabbitmq"), Env("RABBITMQ_DEFAULT_PASS", DefaultPassword)],
            WaitForLog = "Server startup complete",
            MemoryMiB = 512,
            ConnectionFormat = "amqp://{env:RABBITMQ_DEFAULT_USER}:{env:RABBITMQ_DEFAULT_PASS}@{host}:{port}/",
        },
        new() { Name = "nginx", Repositories = ["nginx"], Port = 80, WaitForHttp = "80/", ConnectionFormat = "http://{host}:{port}/" },
        new()
        {
            Name = "mssql", Repositories = ["mssql/server"], Port = 1433,
            Environment = [Env("MSSQL_SA_PASSWORD", DefaultPassword)],
            RequiredOptIn = "ACCEPT_EULA",
            WaitForLog = "SQL Server is now ready for client connections",
            MemoryMiB = 2048,
            ConnectionFormat = "Server={host},{port};User Id=sa;Password={env:MSSQL_SA_PASSWORD};TrustServerCertificate=True",
        },
        new()
        {
            Name = "elasticsearch", Repositories = ["elasticsearch"], Port = 9200,
            Environment = [Env("discovery.type", "single-node"), Env("xpack.security.enabled", "false"), Env("ES_JAVA_OPTS", "-Xms512m -Xmx512m")],
            WaitForHttp = "9200/_cluster/health",
            MemoryMiB = 2048,
            ConnectionFormat = "http://{host}:{port}/",
        },
        new()
        {
            Name = "opensearch", Repositories = ["opensearch"], Port = 9200,
            Environment = [Env("discovery.type", "single-node"), Env("DISABLE_SECURITY_PLUGIN", "true"), Env("DISABLE_INSTALL_DEMO_CONFIG", "true"), Env("OPENSEARCH_JAVA_OPTS", "-Xms512m -Xmx512m")],
            WaitForHttp = "9200/_cluster/health",
            MemoryMiB = 2048,
            ConnectionFormat = "http://{host}:{port}/",
        },
        new()
        {
            Name = "minio", Repositories = ["minio"], Port = 9000,
            Environment = [Env("MINIO_ROOT_USER", "minioadmin"), Env("MINIO_ROOT_PASSWORD", DefaultPassword)],
            Command = "server /data",
            WaitForHttp = "9000/minio/health/live",
            MemoryMiB = 512,
            ConnectionFormat = "http://{host}:{port}/",
        },
    ];

    /// <summary>
    /// The profile for <paramref name="reference"/>: the one named by <paramref name="profile"/>, none
    /// for "none", else the one whose repository ends the reference's path. Null when none applies.
    /// </summary>
    public static ImageProfile? Find(string reference, string? profile)
    {
        if (profile is not null)
        {
            return string.Equals(profile, None, StringComparison.OrdinalIgnoreCase)
                ? null
                : All.FirstOrDefault(p => string.Equals(p.Name, profile, StringComparison.OrdinalIgnoreCase));
        }
        if (!ImageReference.TryParse(reference, out ImageReference? parsed, out _))
        {
            return null;
        }
        string repository = parsed.Repository.ToLowerInvariant();
        return All.FirstOrDefault(p => p.Repositories.Any(r => repository == r || repository.EndsWith("/" + r, StringComparison.Ordinal)));
    }

    /// <summary>
    /// The connection string format with every {env:NAME} and {env:NAME:DEFAULT} replaced from
    /// <paramref name="environment"/> (the last value of a name wins); {host} and {port} stay.
    /// </summary>
    public static string ResolveEnvironment(string format, IReadOnlyList<KeyValuePair<string, string>> environment)
    {
        const string open = "{env:";
        var text = new System.Text.StringBuilder();
        int i = 0;
        while (i < format.Length)
        {
            int start = format.IndexOf(open, i, StringComparison.Ordinal);
            if (start < 0)
            {
                text.Append(format, i, format.Length - i);
                break;
            }
            text.Append(format, i, start - i);
            int end = MatchingBrace(format, start);
            string body = format[(start + open.Length)..end];
            int colon = body.IndexOf(':');
            string name = colon < 0 ? body : body[..colon];
            string? value = environment.LastOrDefault(p => p.Key == name).Value;
            text.Append(value ?? (colon < 0 ? "" : ResolveEnvironment(body[(colon + 1)..], environment)));
            i = end + 1;
        }
        return text.ToString();
    }

    private static int MatchingBrace(string text, int start)
    {
        int depth = 0;
        for (int i = start; i < text.Length; i++)
        {
            depth += text[i] == '{' ? 1 : text[i] == '}' ? -1 : 0;
            if (depth == 0)
            {
                return i;
            }
        }
        return text.Length - 1;
    }

    /// <summary>The connection string of a running VM: the format with {host} and {port} filled in.</summary>
    public static string Format(string format, string host, int port) =>
        format.Replace("{host}", host, StringComparison.Ordinal).Replace("{port}", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
}
