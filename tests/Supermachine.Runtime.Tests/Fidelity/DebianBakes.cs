using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>One Debian fixture image as an app would bake it: its tag in the layout and the MicroVmImage item's metadata.</summary>
internal sealed record DebianBake(string Name, string Tag, IReadOnlyDictionary<string, string> Metadata)
{
    public string Reference => TestEnvironment.DebianFixture(Tag);

    public string? this[string key] => Metadata.GetValueOrDefault(key);

    /// <summary>Baked once per test run (<see cref="SharedBakes"/>), whichever test class asks first.</summary>
    public Task<MicroVmImage> BakeAsync() => SharedBakes.GetAsync(Name, Reference, key => this[key]);
}

/// <summary>
/// The Debian fixture images (tests/fixtures/debian-images.sh) baked as the tests and the fidelity
/// benchmark use them.
/// </summary>
internal static class DebianBakes
{
    public const string PostgresPassword = "pg-secret";
    public const string MariaDbRootPassword = "root-secret";
    public const string MariaDbPassword = "app-secret";
    public const string RabbitMqPassword = "mq-secret";

    /// <summary>Generous for the heavy servers under TCG on a loaded machine: a slow restore is not a failure.</summary>
    public static MicroVmOptions StartOptions { get; } = new() { StartTimeout = TimeSpan.FromMinutes(10) };

    /// <summary>The init script the postgres bake puts into /docker-entrypoint-initdb.d.</summary>
    public static string PostgresInitSql => Path.Combine(TestEnvironment.RepositoryRoot, "tests", "Supermachine.Runtime.Tests", "Fidelity", "postgres-init.sql");

    /// <summary>
    /// PostgreSQL with an init script passed as a file, ready at the second "ready to accept
    /// connections" (the first is the entrypoint's temporary socket-only server), and a warmup
    /// that inserts 100 rows before the snapshot.
    /// </summary>
    public static DebianBake Postgres { get; } = new("fidelity-postgres", "postgres", new Dictionary<string, string>
    {
        ["Env"] = $"POSTGRES_PASSWORD={PostgresPassword};POSTGRES_DB=app",
        ["Files"] = $"{PostgresInitSql}:/docker-entrypoint-initdb.d/init.sql",
        ["WaitForLog"] = "database system is ready to accept connections",
        ["WaitForLogTimes"] = "2",
        ["Warmup"] = "psql -v ON_ERROR_STOP=1 -U postgres -d app -c 'INSERT INTO warm (n) SELECT generate_series(1, 100)'",
        ["WarmupTag"] = "100 rows",
        ["MemoryMiB"] = "512",
    });

    /// <summary>MariaDB with a root password, a database and a user, ready once the real server (the second "ready for connections") listens.</summary>
    public static DebianBake MariaDb { get; } = new("fidelity-mariadb", "mariadb", new Dictionary<string, string>
    {
        ["Env"] = $"MARIADB_ROOT_PASSWORD={MariaDbRootPassword};MARIADB_DATABASE=app;MARIADB_USER=app;MARIADB_PASSWORD={MariaDbPassword}",
        ["Port"] = "3306",
        ["WaitForLog"] = "ready for connections",
        ["WaitForLogTimes"] = "2",
        ["MemoryMiB"] = "512",
    });

    /// <summary>RabbitMQ with a default user, ready when the broker says its startup is complete (the AMQP port opens a little before).</summary>
    public static DebianBake RabbitMq { get; } = new("fidelity-rabbitmq", "rabbitmq", new Dictionary<string, string>
    {
        ["Env"] = $"RABBITMQ_DEFAULT_USER=app;RABBITMQ_DEFAULT_PASS={RabbitMqPassword}",
        ["Port"] = "5672",
        ["WaitForLog"] = "Server startup complete",
        ["MemoryMiB"] = "768",
    });

    /// <summary>nginx, ready when GET / on port 80 answers 2xx.</summary>
    public static DebianBake Nginx { get; } = new("fidelity-nginx", "nginx", new Dictionary<string, string>
    {
        ["WaitForHttp"] = "80/",
    });

    /// <summary>The JVM image at 768 MiB and 2 vCPUs, ready once its program printed what it sized itself by.</summary>
    public static DebianBake Jvm { get; } = new("fidelity-jvm", "jvm", new Dictionary<string, string>
    {
        ["WaitForLog"] = "availableProcessors=",
        ["MemoryMiB"] = "768",
        ["Vcpus"] = "2",
    });

    public static IReadOnlyList<DebianBake> All { get; } = [Postgres, MariaDb, RabbitMq, Nginx, Jvm];
}
