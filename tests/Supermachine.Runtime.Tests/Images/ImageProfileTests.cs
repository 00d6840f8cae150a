using Supermachine.Bake;
using Supermachine.Diagnostics;
using Supermachine.Images;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Images;

/// <summary>Image profiles: a well-known image with no metadata gets a port, environment, readiness, memory and a connection string; the item overrides each.</summary>
public class ImageProfileTests
{
    private static MicroVmImageRequest Request(string reference, params (string Key, string Value)[] metadata) =>
        MicroVmImageRequest.FromMetadata(reference, k => metadata.FirstOrDefault(m => m.Key == k).Value);

    private static string Env(MicroVmImageRequest r, string name) => r.Environment.Last(p => p.Key == name).Value;

    private static string Connection(MicroVmImageRequest r) => ImageProfiles.ResolveEnvironment(r.ConnectionFormat!, r.Environment);

    [Theory]
    [InlineData("postgres:16", "postgres")]
    [InlineData("docker.io/library/postgres:16", "postgres")]
    [InlineData("127.0.0.1:5000/library/postgres:15", "postgres")]
    [InlineData("ghcr.io/acme/team/postgres@sha256:0123456789012345678901234567890123456789012345678901234567890123", "postgres")]
    [InlineData("redis:7", "redis")]
    [InlineData("valkey/valkey:8", "valkey")]
    [InlineData("mcr.microsoft.com/mssql/server:2022-latest", "mssql")]
    [InlineData("bitnami/mongo", "mongo")]
    [InlineData("docker.elastic.co/elasticsearch/elasticsearch:8.15.0", "elasticsearch")]
    [InlineData("opensearchproject/opensearch:2", "opensearch")]
    [InlineData("minio/minio", "minio")]
    [InlineData("postgres-exporter:1", null)]
    [InlineData("acme/mypostgres", null)]
    [InlineData("oci-layout:/tmp/x:postgres", null)]
    public void Profiles_match_by_the_last_segments_of_the_repository_under_any_registry(string reference, string? profile) =>
        Assert.Equal(profile, ImageProfiles.Find(reference, null)?.Name);

    [Fact]
    public void A_postgres_item_without_metadata_gets_port_password_readiness_and_a_connection_string()
    {
        MicroVmImageRequest r = Request("postgres:16");
        Assert.Equal("postgres", r.Profile);
        Assert.Equal(5432, r.Port);
        Assert.Equal(ImageProfiles.DefaultPassword, Env(r, "POSTGRES_PASSWORD"));
        Assert.Contains("pg_isready", r.WaitForCommand, StringComparison.Ordinal);
        Assert.Equal($"Host={{host}};Port={{port}};Username=postgres;Password={ImageProfiles.DefaultPassword};Database=postgres", Connection(r));
        Assert.Equal("Host=127.0.0.1;Port=40001;Username=postgres;Password=Supermachine1;Database=postgres", ImageProfiles.Format(Connection(r), "127.0.0.1", 40001));
    }

    [Fact]
    public void Item_metadata_overrides_every_field_and_the_connection_string_follows_the_items_credentials()
    {
        MicroVmImageRequest r = Request("postgres:16",
            ("Port", "6543"), ("Env", "POSTGRES_PASSWORD=own;POSTGRES_USER=app"), ("MemoryMiB", "768"), ("WaitForLog", "ready"));
        Assert.Equal(6543, r.Port);
        Assert.Equal(768, r.MemoryMiB);
        Assert.Equal(["POSTGRES_PASSWORD=own", "POSTGRES_USER=app"], r.Environment.Select(p => p.Key + "=" + p.Value));
        // Readiness is taken whole: the item's own condition replaces the profile's.
        Assert.Equal("ready", r.WaitForLog);
        Assert.Null(r.WaitForCommand);
        Assert.Equal("Host={host};Port={port};Username=app;Password=own;Database=app", Connection(r));

        // A ';' inside a value (written '\;') survives the merge with the profile's environment.
        MicroVmImageRequest escaped = Request("postgres:16", ("Env", "OPTS=a\\;b"));
        Assert.Equal(["POSTGRES_PASSWORD=Supermachine1", "OPTS=a;b"], escaped.Environment.Select(p => p.Key + "=" + p.Value));

        MicroVmImageRequest custom = Request("redis:7", ("ConnectionString", "redis://{host}:{port}/0"));
        Assert.Equal("redis://{host}:{port}/0", custom.ConnectionFormat);
    }

    [Fact]
    public void Profile_none_turns_profiles_off_and_a_named_profile_applies_to_any_repository()
    {
        MicroVmImageRequest none = Request("postgres:16", ("Profile", "none"));
        Assert.Null(none.Profile);
        Assert.Null(none.Port);
        Assert.Empty(none.Environment);
        Assert.Null(none.ConnectionFormat);

        MicroVmImageRequest named = Request("acme/cache:1", ("Profile", "Redis"));
        Assert.Equal("redis", named.Profile);
        Assert.Equal(6379, named.Port);

        SupermachineException e = Assert.Throws<SupermachineException>(() => Request("acme/cache:1", ("Profile", "memcached")));
        Assert.Equal("SM2303", e.Code);
        Assert.Contains("postgres", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_Dockerfile_image_named_like_a_profile_gets_no_profile()
    {
        MicroVmImageRequest r = Request("postgres", ("Dockerfile", "Dockerfile"));
        Assert.Null(r.Profile);
        Assert.Null(r.Port);
    }

    [Fact]
    public void Mssql_needs_the_licence_accepted_by_the_user()
    {
        SupermachineException e = Assert.Throws<SupermachineException>(() => Request("mcr.microsoft.com/mssql/server:2022-latest"));
        Assert.Equal("SM2400", e.Code);
        Assert.Contains("ACCEPT_EULA=Y", e.Message, StringComparison.Ordinal);

        MicroVmImageRequest r = Request("mcr.microsoft.com/mssql/server:2022-latest", ("Env", "ACCEPT_EULA=Y"));
        Assert.Equal(1433, r.Port);
        Assert.Equal(2048, r.MemoryMiB);
        Assert.Equal("Y", Env(r, "ACCEPT_EULA"));
        Assert.Equal("Server={host},{port};User Id=sa;Password=Supermachine1;TrustServerCertificate=True", Connection(r));
        Assert.Null(Request("mcr.microsoft.com/mssql/server:2022-latest", ("Profile", "none")).Port);
    }

    [Theory]
    [InlineData("mysql:8", "Server=127.0.0.1;Port=9;User ID=root;Password=Supermachine1;Database=test")]
    [InlineData("mariadb:11", "Server=127.0.0.1;Port=9;User ID=root;Password=Supermachine1;Database=test")]
    [InlineData("redis:7", "127.0.0.1:9")]
    [InlineData("valkey/valkey:8", "127.0.0.1:9")]
    [InlineData("rabbitmq:3", "amqp://rabbitmq:Supermachine1@127.0.0.1:9/")]
    [InlineData("mongo:7", "mongodb://root:Supermachine1@127.0.0.1:9/?authSource=admin")]
    [InlineData("nginx:1", "http://127.0.0.1:9/")]
    [InlineData("minio/minio", "http://127.0.0.1:9/")]
    public void Every_profile_gives_its_clients_form(string reference, string expected) =>
        Assert.Equal(expected, ImageProfiles.Format(Connection(Request(reference, ("Env", "ACCEPT_EULA=Y"))), "127.0.0.1", 9));

    [Fact]
    public void Every_profile_is_complete_and_listed_in_the_readme()
    {
        string readme = File.ReadAllText(Path.Combine(TestEnvironment.RepositoryRoot, "README.md"));
        foreach (ImageProfile p in ImageProfiles.All)
        {
            MicroVmImageRequest r = Request(p.Repositories[0], ("Env", p.RequiredOptIn is null ? "" : p.RequiredOptIn + "=Y"));
            Assert.Equal(p.Name, r.Profile);
            Assert.DoesNotContain("{env:", Connection(r), StringComparison.Ordinal);
            Assert.Contains($"| `{p.Name}` |", readme, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_profile_and_connection_string_are_bake_inputs()
    {
        MicroVmImageRequest r = Request("redis:7");
        string baseline = SampleBakeInputsFingerprint(r);
        Assert.NotEqual(baseline, SampleBakeInputsFingerprint(r with { ConnectionFormat = "redis://{host}:{port}" }));
        Assert.NotEqual(baseline, SampleBakeInputsFingerprint(r with { Profile = null }));
    }

    private static string SampleBakeInputsFingerprint(MicroVmImageRequest r) => Supermachine.Tests.Bake.SampleBakeInputs.Fingerprint(r);
}

/// <summary>GetConnectionString() from what the manifest recorded: the profile's string, else the Port, else SM3130.</summary>
public class ConnectionStringTests
{
    private static SnapshotManifest Manifest(int? port, SnapshotManifest.ConnectionRecord? connection) => new()
    {
        Name = "img",
        Reference = "img:1",
        ImageDigest = "sha256:" + new string('1', 64),
        Workload = new SnapshotManifest.WorkloadRecord { Port = port },
        Machine = new SnapshotManifest.MachineRecord(),
        Assets = new Dictionary<string, string>(),
        Fingerprint = "sha256:" + new string('2', 64),
        Files = [],
        Connection = connection,
    };

    private static System.Net.IPEndPoint Forward(int guestPort) => new(System.Net.IPAddress.Loopback, 40000 + guestPort);

    [Fact]
    public void A_profiled_image_gives_its_clients_string_an_unprofiled_one_its_port_and_one_without_either_SM3130()
    {
        var postgres = new SnapshotManifest.ConnectionRecord { Profile = "postgres", Port = 5432, Format = "Host={host};Port={port};Username=postgres;Password=p;Database=postgres" };
        Assert.Equal("Host=127.0.0.1;Port=45432;Username=postgres;Password=p;Database=postgres", MicroVm.ConnectionStringOf(Manifest(5432, postgres), Forward));
        Assert.Equal("127.0.0.1:46379", MicroVm.ConnectionStringOf(Manifest(6379, null), Forward));
        SupermachineException e = Assert.Throws<SupermachineException>(() => MicroVm.ConnectionStringOf(Manifest(null, null), Forward));
        Assert.Equal("SM3130", e.Code);
        Assert.Contains("'img'", e.Message, StringComparison.Ordinal);
    }
}
