using System.Net;
using System.Text;
using RabbitMQ.Client;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Fidelity;

/// <summary>
/// The rabbitmq fixture image (Debian's rabbitmq-server): Erlang names its node after the short
/// hostname, which must resolve in the guest, and the AMQP port answers a real client.
/// </summary>
public sealed class RabbitMqImageTests
{
    [RequiresToolFact("qemu-system-x86_64")]
    public async Task The_node_runs_under_the_guests_hostname_and_AMQP_clients_publish_and_consume()
    {
        MicroVmImage image = await DebianBakes.RabbitMq.BakeAsync();
        await using MicroVm vm = await MicroVm.StartAsync(image, DebianBakes.StartOptions);
        Assert.True(vm.Restored);

        ExecResult hostname = await vm.ExecAsync(["hostname"]);
        string name = hostname.StandardOutput.Trim();
        Assert.Equal("fidelity-rabbitmq", name);
        Assert.Matches(@"node\s+: rabbit@" + name + @"\b", (await vm.GetWorkloadLogAsync()).Text);

        IPEndPoint endpoint = vm.GetEndpoint(5672);
        var factory = new ConnectionFactory
        {
            HostName = endpoint.Address.ToString(),
            Port = endpoint.Port,
            UserName = "app",
            Password = DebianBakes.RabbitMqPassword,
            RequestedConnectionTimeout = TimeSpan.FromMinutes(1),
            ContinuationTimeout = TimeSpan.FromMinutes(1),
            HandshakeContinuationTimeout = TimeSpan.FromMinutes(1),
        };
        await using IConnection connection = await factory.CreateConnectionAsync();
        await using IChannel channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync("fidelity", durable: false, exclusive: false, autoDelete: false);
        await channel.BasicPublishAsync("", "fidelity", Encoding.UTF8.GetBytes("hello from the host"));
        BasicGetResult? got = null;
        for (int i = 0; i < 100 && got is null; i++)
        {
            got = await channel.BasicGetAsync("fidelity", autoAck: true);
            if (got is null)
            {
                await Task.Delay(100);
            }
        }
        Assert.NotNull(got);
        Assert.Equal("hello from the host", Encoding.UTF8.GetString(got.Body.Span));
    }
}
