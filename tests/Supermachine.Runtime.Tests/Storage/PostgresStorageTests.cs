using Npgsql;
using Supermachine.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Supermachine.Tests.Storage;

/// <summary>
/// The case issue #17 started from: PostgreSQL (the Debian fixture image, its entrypoint as the
/// official image's) at the 256 MiB memory default holds more than a GiB of rows, four times its
/// RAM, because its data directory is on the VM's disk; Npgsql writes and reads them back. A second
/// restore of the same snapshot starts from the snapshot's state and sees none of them.
/// </summary>
public class PostgresStorageTests(ITestOutputHelper output)
{
    private const string Password = "storage-test";

    // Rows of 960 bytes: below PostgreSQL's TOAST threshold, so stored as they are, not compressed.
    private const int Rows = 1_200_000;
    private const int PayloadBytes = 960;

    private static Task<MicroVmImage> BakeAsync() => SharedBakes.GetAsync("postgres-storage", TestEnvironment.DebianFixture("postgres"), key => key switch
    {
        "Port" => "5432",
        "Env" => "POSTGRES_PASSWORD=" + Password,
        // PostgreSQL's default 128 MB of shared buffers is half of this swapless 256 MiB guest: the
        // kernel OOM-killed a backend in the middle of the inserts. 32 MB leaves room for the rest.
        "Command" => "postgres -c shared_buffers=32MB",
        // The entrypoint's temporary server logs it first, the real one second.
        "WaitForLog" => "database system is ready to accept connections",
        "WaitForLogTimes" => "2",
        _ => null,
    });

    private static NpgsqlConnection Connect(MicroVm vm)
    {
        var endpoint = vm.GetEndpoint(5432);
        return new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = endpoint.Address.ToString(),
            Port = endpoint.Port,
            Username = "postgres",
            Password = Password,
            Database = "postgres",
            Pooling = false,
            CommandTimeout = 0,
            Timeout = 60,
        }.ConnectionString);
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_256_MiB_guest_stores_more_than_1_GiB_of_rows_and_a_second_restore_does_not_see_them()
    {
        MicroVmImage image = await BakeAsync();
        Assert.Equal(256, image.Manifest.Machine.MemoryMiB);
        await using (MicroVm vm = await MicroVm.StartAsync(image, new MicroVmOptions { StartTimeout = TimeSpan.FromMinutes(10) }))
        {
            Assert.True(vm.Restored);
            try
            {
                await FillAndReadBackAsync(vm);
            }
            catch
            {
                output.WriteLine((await vm.GetWorkloadLogAsync()).Text);
                output.WriteLine(vm.ReadConsoleTail(4000));
                throw;
            }
        }

        await using MicroVm second = await MicroVm.StartAsync(image, new MicroVmOptions { StartTimeout = TimeSpan.FromMinutes(10) });
        await using NpgsqlConnection again = Connect(second);
        await again.OpenAsync();
        Assert.Equal(0L, await ScalarAsync(again, "SELECT count(*) FROM pg_tables WHERE tablename = 'big'"));
    }

    private async Task FillAndReadBackAsync(MicroVm vm)
    {
        await using NpgsqlConnection connection = Connect(vm);
        await connection.OpenAsync();
        await ScalarAsync(connection, "CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL)");
        // In batches: each commits, so WAL is recycled as it goes rather than held for one transaction.
        const int Batch = 50_000;
        for (int start = 1; start <= Rows; start += Batch)
        {
            await ScalarAsync(connection, $"INSERT INTO big SELECT g, repeat(md5(g::text), {PayloadBytes / 32}) FROM generate_series({start}, {Math.Min(Rows, start + Batch - 1)}) g");
        }
        long bytes = (long)(await ScalarAsync(connection, "SELECT pg_total_relation_size('big')"))!;
        output.WriteLine($"table big: {Rows} rows, {bytes / 1048576.0:F0} MiB on disk");
        Assert.True(bytes >= 1L << 30, $"only {bytes} bytes");

        // Read back through a cold cache (4x the guest's RAM): every row, its content checked.
        await using var check = new NpgsqlCommand($"SELECT count(*), sum(length(payload)), bool_and(payload = repeat(md5(id::text), {PayloadBytes / 32})) FROM big", connection);
        await using NpgsqlDataReader reader = await check.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal((long)Rows, reader.GetInt64(0));
        Assert.Equal((decimal)Rows * PayloadBytes, reader.GetDecimal(1));
        Assert.True(reader.GetBoolean(2));
    }
}
