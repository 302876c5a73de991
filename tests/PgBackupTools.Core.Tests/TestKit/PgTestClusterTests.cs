using System.Net;
using System.Net.Sockets;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.TestKit;

/// <summary>The test clusters themselves: a port taken between FindFreePort and the server's start does not fail a test.</summary>
[Collection("cluster")]
public sealed class PgTestClusterTests
{
    [Fact]
    public void A_cluster_whose_port_was_taken_before_it_started_moves_to_another_and_runs()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        int taken = ((IPEndPoint)squatter.LocalEndpoint).Port;

        using var cluster = PgTestCluster.Start(null, null, port: taken);

        Assert.NotEqual(taken, cluster.Port);
        Assert.Equal(cluster.Port.ToString(), cluster.Psql("SHOW port"));
        Assert.Contains("Address already in use", File.ReadAllText(cluster.LogFile));
    }
}
