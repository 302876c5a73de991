using System.Net;
using System.Net.Sockets;
using Amazon.S3;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.TestKit;

/// <summary>The emulators the store tests start: a port taken before node binds it does not fail a test.</summary>
public sealed class StoreEmulatorTests
{
    [Fact]
    public async Task An_emulator_whose_port_was_taken_before_it_started_moves_to_another_and_serves()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        int taken = ((IPEndPoint)squatter.LocalEndpoint).Port;

        using var s3 = S3rverEmulator.StartOn(taken, "bucket");

        Assert.NotEqual(taken, s3.Port);
        using var client = new AmazonS3Client(S3rverEmulator.AccessKeyId, S3rverEmulator.SecretAccessKey,
            new AmazonS3Config { ServiceURL = s3.Endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1" });
        var buckets = await client.ListBucketsAsync();
        Assert.Contains(buckets.Buckets, b => b.BucketName == "bucket");
    }
}
