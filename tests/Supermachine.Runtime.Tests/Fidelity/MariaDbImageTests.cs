using System.Net;
using MySqlConnector;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// The mariadb fixture image (Debian's mariadb-server behind an entrypoint like the official
/// image's) baked, restored and queried with MySqlConnector as the user and database its
/// environment asked for.
/// </summary>
public sealed class MariaDbImageTests
{
    private static MySqlConnection Connect(MicroVm vm, string user, string password)
    {
        IPEndPoint endpoint = vm.GetEndpoint(3306);
        return new MySqlConnection(new MySqlConnectionStringBuilder
        {
            Server = endpoint.Address.ToString(),
            Port = (uint)endpoint.Port,
            UserID = user,
            Password = password,
            Database = "app",
            ConnectionTimeout = 60,
            DefaultCommandTimeout = 120,
            Pooling = false,
        }.ConnectionString);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_restored_server_answers_MySqlConnector_as_the_user_and_database_it_was_baked_with()
    {
        MicroVmImage image = await DebianBakes.MariaDb.BakeAsync();
        await using MicroVm vm = await MicroVm.StartAsync(image, DebianBakes.StartOptions);
        Assert.True(vm.Restored);
        Assert.Contains("MariaDB init process done. Ready for start up.", (await vm.GetWorkloadLogAsync()).Text);

        await using (MySqlConnection app = Connect(vm, "app", DebianBakes.MariaDbPassword))
        {
            await app.OpenAsync();
            Assert.Contains("MariaDB", app.ServerVersion, StringComparison.Ordinal);
            await using var create = new MySqlCommand("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'restored')", app);
            await create.ExecuteNonQueryAsync();
            await using var select = new MySqlCommand("SELECT body FROM notes WHERE id = 1", app);
            Assert.Equal("restored", await select.ExecuteScalarAsync());
        }

        // Root has the password from MARIADB_ROOT_PASSWORD, from any host (the official image's default).
        await using MySqlConnection root = Connect(vm, "root", DebianBakes.MariaDbRootPassword);
        await root.OpenAsync();
        await using var who = new MySqlCommand("SELECT CURRENT_USER()", root);
        Assert.Equal("root@%", await who.ExecuteScalarAsync());
    }
}
