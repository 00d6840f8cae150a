using Npgsql;
using Supermachine;
using Xunit;

namespace PostgresTests;

/// <summary>One PostgreSQL per test class, restored from the snapshot the build baked: already initialised and accepting connections.</summary>
public sealed class Postgres() : MicroVmFixture("postgres_15"), IAsyncLifetime
{
    // xunit v3 asks for a ValueTask; DisposeAsync comes from MicroVmFixture.
    ValueTask IAsyncLifetime.InitializeAsync() => new(InitializeAsync());
}

public class PostgresSampleTests(Postgres postgres) : IClassFixture<Postgres>
{
    [Fact]
    public async Task A_restored_postgres_runs_a_query()
    {
        // Host=127.0.0.1;Port=N;Username=postgres;Password=...;Database=postgres
        await using var connection = new NpgsqlConnection(postgres.GetConnectionString());
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("select version()", connection);
        string? version = (string?)await command.ExecuteScalarAsync(TestContext.Current.CancellationToken);
        Assert.StartsWith("PostgreSQL 15", version);
    }

    [Fact]
    public async Task Creates_a_table_and_reads_it_back()
    {
        await using var connection = new NpgsqlConnection(postgres.GetConnectionString());
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var create = new NpgsqlCommand("create table if not exists notes (id serial primary key, text text); insert into notes (text) values ('hello')", connection);
        await create.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        await using var count = new NpgsqlCommand("select count(*) from notes", connection);
        Assert.True((long)(await count.ExecuteScalarAsync(TestContext.Current.CancellationToken))! >= 1);
    }
}
