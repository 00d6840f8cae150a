using System.Net;
using System.Text.RegularExpressions;
using Npgsql;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// The postgres fixture image (Debian's postgresql-15 behind an entrypoint like the official
/// image's) baked with an init script passed as a file, log readiness on the second "ready to
/// accept connections" and a warmup, then restored and queried with Npgsql.
/// </summary>
public sealed class PostgresImageTests
{
    private const string Ready = "database system is ready to accept connections";

    private static NpgsqlConnection Connect(MicroVm vm)
    {
        IPEndPoint endpoint = vm.GetEndpoint(5432);
        return new NpgsqlConnection($"Host={endpoint.Address};Port={endpoint.Port};Username=postgres;Password={DebianBakes.PostgresPassword};Database=app;Timeout=60;Command Timeout=120;Pooling=false");
    }

    private static async Task<T> ScalarAsync<T>(MicroVm vm, string sql)
    {
        await using NpgsqlConnection connection = Connect(vm);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_init_script_ran_and_the_snapshot_holds_the_real_server_not_the_temporary_one()
    {
        MicroVmImage image = await DebianBakes.Postgres.BakeAsync();
        Assert.Equal((Ready, 2), (image.Manifest.Workload.WaitForLog, image.Manifest.Workload.WaitForLogTimes));
        await using MicroVm vm = await MicroVm.StartAsync(image, DebianBakes.StartOptions);
        Assert.True(vm.Restored);

        string log = (await vm.GetWorkloadLogAsync()).Text;
        Assert.Equal(2, Regex.Matches(log, Ready).Count);
        Assert.Contains("running /docker-entrypoint-initdb.d/init.sql", log);
        Assert.Contains("PostgreSQL init process complete; ready for start up.", log);

        // The temporary server listened only on its unix socket: a TCP client reaching a server that
        // listens everywhere is the real one, straight after the restore.
        Assert.Equal("*", await ScalarAsync<string>(vm, "SHOW listen_addresses"));
        Assert.Equal("from init.sql", await ScalarAsync<string>(vm, "SELECT name FROM seeded"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Rows_the_warmup_inserted_are_there_after_every_restore_and_one_VMs_writes_stay_in_it()
    {
        MicroVmImage image = await DebianBakes.Postgres.BakeAsync();
        for (int restore = 1; restore <= 2; restore++)
        {
            await using MicroVm vm = await MicroVm.StartAsync(image, DebianBakes.StartOptions);
            Assert.True(vm.Restored);
            Assert.Equal(100L, await ScalarAsync<long>(vm, "SELECT count(*) FROM warm"));
            Assert.Equal(5050L, await ScalarAsync<long>(vm, "SELECT sum(n) FROM warm"));
            await ScalarAsync<object>(vm, $"INSERT INTO warm (n) VALUES ({1000 + restore}) RETURNING n");
            Assert.Equal(101L, await ScalarAsync<long>(vm, "SELECT count(*) FROM warm"));
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Stop_sends_the_images_SIGINT_and_the_server_shuts_down_fast_and_cleanly()
    {
        MicroVmImage image = await DebianBakes.Postgres.BakeAsync();
        Assert.Equal(2, image.Manifest.Workload.StopSignal);
        MicroVm vm = await MicroVm.StartAsync(image, DebianBakes.StartOptions);
        Assert.Equal(100L, await ScalarAsync<long>(vm, "SELECT count(*) FROM warm"));
        WorkloadLog? last = await vm.StopAsync();
        Assert.NotNull(last);
        // SIGINT is PostgreSQL's fast shutdown (SIGTERM would be a smart one).
        Assert.Contains("received fast shutdown request", last.Text);
        Assert.Contains("database system is shut down", last.Text);
        Assert.True(last.Exited, last.Text);
        Assert.Equal(0, last.ExitCode);
        Assert.Null(last.Signal);
        await vm.DisposeAsync();
    }
}
