using Amazon.Runtime;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Snapshots;

/// <summary>The real AWSSDK.EC2 client against a loopback endpoint that speaks EC2's Query/XML protocol.</summary>
public sealed class AwsEbsSnapshotProviderTests : IDisposable
{
    internal const string TestSecret = "pgbt-test-secret-9f3c1e";
    private readonly FakeEc2Endpoint _ec2 = new();

    internal static AwsEbsSnapshotProvider Provider(FakeEc2Endpoint ec2) =>
        new(new SnapshotTarget { Provider = SnapshotProvider.Aws, Region = "eu-west-1", Endpoint = ec2.Endpoint, MaxPollInterval = TimeSpan.FromMilliseconds(50) },
            new BasicAWSCredentials("AKIDPGBTTEST", TestSecret));

    private static SnapshotTarget Timing => new() { Provider = SnapshotProvider.Aws, MaxPollInterval = TimeSpan.FromMilliseconds(50) };

    [Fact]
    public async Task A_set_is_created_in_order_with_tags_and_request_tokens_then_polled_to_completion()
    {
        using var provider = Provider(_ec2);
        var tags = new Dictionary<string, string> { ["pgbt-stanza"] = "main", ["team"] = "db" };
        var made = await SnapshotSet.StartAsync(provider, ["vol-a", "vol-b"], "20260101T000000Z", tags, OperationContext.None);
        var progress = new List<TransferProgress>();
        var done = await SnapshotSet.WaitForCompletionAsync(provider, made, Timing, "test",
            new OperationContext { Progress = new SyncProgress(progress.Add) });

        var creates = _ec2.Calls("CreateSnapshot").ToList();
        Assert.Equal(["vol-a", "vol-b"], creates.Select(c => c.Parameters["VolumeId"]));
        Assert.All(creates, c => Assert.Equal("snapshot", c.Parameters["TagSpecification.1.ResourceType"]));
        var first = _ec2.Snapshots.Single(s => s.VolumeId == "vol-a");
        Assert.Equal("20260101T000000Z", first.Tags["pgbt-backup-id"]);
        Assert.Equal("20260101T000000Z-1", first.Tags["pgbt-request"]);
        Assert.Equal("1-of-2", first.Tags["pgbt-set-member"]);
        Assert.Equal("db", first.Tags["team"]);
        Assert.Equal("pgbt 20260101T000000Z vol-a", first.Tags["Name"]);
        // Idempotency by tag: each create first looks for its own request token.
        var lookups = _ec2.Calls("DescribeSnapshots").Where(r => r.Parameters.GetValueOrDefault("Filter.1.Name") == "tag:pgbt-request").ToList();
        Assert.Equal(["20260101T000000Z-1", "20260101T000000Z-2"], lookups.Take(2).Select(r => r.Parameters["Filter.1.Value.1"]));
        Assert.True(_ec2.Requests.ToList().FindIndex(r => r.Action == "CreateSnapshot") > _ec2.Requests.ToList().FindIndex(r => r.Action == "DescribeSnapshots"));
        Assert.All(done, s => Assert.True(s.Completed));
        Assert.All(done, s => Assert.Equal(100, s.Progress));
        Assert.Equal("20260101T000000Z", done[0].BackupId);
        // Waits: reads by snapshot id until completed, with progress that never claims 100 before the end.
        Assert.True(_ec2.Calls("DescribeSnapshots").Count(r => r.Parameters.ContainsKey("SnapshotId.1")) >= 4);
        Assert.Contains(progress, p => p.Status.StartsWith("2 of 2 snapshots completed", StringComparison.Ordinal));
        Assert.All(_ec2.Requests, r => Assert.DoesNotContain(TestSecret, r.Body + r.Authorization));
    }

    [Fact]
    public async Task A_retried_create_with_the_same_token_returns_the_first_snapshot()
    {
        using var provider = Provider(_ec2);
        var tags = new Dictionary<string, string> { ["pgbt-backup-id"] = "x" };
        var one = await provider.CreateSnapshotAsync("vol-a", tags, "tok-1", CancellationToken.None);
        var two = await provider.CreateSnapshotAsync("vol-a", tags, "tok-1", CancellationToken.None);
        Assert.Equal(one.SnapshotId, two.SnapshotId);
        Assert.Single(_ec2.Calls("CreateSnapshot"));
    }

    [Fact]
    public async Task Throttling_is_retried_by_the_SDK()
    {
        using var provider = Provider(_ec2);
        _ec2.Throttle(3);
        var s = await provider.CreateSnapshotAsync("vol-a", new Dictionary<string, string>(), "tok", CancellationToken.None);
        Assert.StartsWith("snap-", s.SnapshotId);
        Assert.Equal(3, _ec2.Requests.Count(r => r.Action == "DescribeSnapshots") - 1); // three throttled lookups, then one answered
        Assert.Single(_ec2.Calls("CreateSnapshot"));
    }

    [Fact]
    public async Task A_failure_mid_set_deletes_the_snapshots_already_made_and_names_the_volume()
    {
        using var provider = Provider(_ec2);
        _ec2.FailingVolumes.Add("vol-b");
        var e = await Assert.ThrowsAsync<PgBackupException>(() =>
            SnapshotSet.StartAsync(provider, ["vol-a", "vol-b", "vol-c"], "set1", new Dictionary<string, string>(), OperationContext.None));
        Assert.Contains("vol-b", e.Message);
        Assert.Equal("vol-b", e.Target);
        Assert.Contains("IncorrectState", e.Message);
        Assert.Empty(_ec2.Snapshots);
        Assert.Single(_ec2.Calls("DeleteSnapshot"));
        Assert.DoesNotContain(_ec2.Calls("CreateSnapshot"), r => r.Parameters["VolumeId"] == "vol-c");
    }

    [Fact]
    public async Task A_snapshot_that_fails_while_completing_is_reported_with_its_volume()
    {
        using var provider = Provider(_ec2);
        _ec2.SnapshotsFailLaterFor.Add("vol-b");
        var made = await SnapshotSet.StartAsync(provider, ["vol-a", "vol-b"], "set2", new Dictionary<string, string>(), OperationContext.None);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => SnapshotSet.WaitForCompletionAsync(provider, made, Timing, "t", OperationContext.None));
        Assert.Contains("vol-b", e.Message);
        Assert.Contains("error", e.Message);
    }

    [Fact]
    public async Task Volumes_are_created_from_snapshots_with_a_client_token_and_waited_for()
    {
        using var provider = Provider(_ec2);
        var snap = await provider.CreateSnapshotAsync("vol-a", new Dictionary<string, string> { ["pgbt-backup-id"] = "b1" }, "t1", CancellationToken.None);
        var v1 = await provider.CreateVolumeAsync(snap, "eu-west-1a", new Dictionary<string, string> { ["pgbt-backup-id"] = "b1" }, "restore-1", CancellationToken.None);
        var v2 = await provider.CreateVolumeAsync(snap, "eu-west-1a", new Dictionary<string, string>(), "restore-1", CancellationToken.None);
        Assert.Equal(v1.VolumeId, v2.VolumeId);
        Assert.Equal("available", v1.State);
        Assert.Equal("eu-west-1a", v1.Zone);
        Assert.Equal(snap.SnapshotId, v1.SnapshotId);
        Assert.All(_ec2.Calls("CreateVolume"), r => Assert.Equal("restore-1", r.Parameters["ClientToken"]));
        Assert.Contains(_ec2.Requests, r => r.Action == "DescribeVolumes");
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_a_connection_error_without_the_secret()
    {
        using var provider = new AwsEbsSnapshotProvider(new SnapshotTarget { Provider = SnapshotProvider.Aws, Region = "eu-west-1", Endpoint = "http://127.0.0.1:1" },
            new BasicAWSCredentials("AKIDPGBTTEST", TestSecret));
        var e = await Assert.ThrowsAsync<PgBackupException>(() => provider.ListSnapshotsAsync(SnapshotTags.Ours, CancellationToken.None));
        Assert.Equal(FailureKind.ConnectionFailed, e.Kind);
        Assert.DoesNotContain(TestSecret, e.ToString());
    }

    public void Dispose() => _ec2.Dispose();
}

/// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SyncProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
{
    public void Report(TransferProgress value) { lock (this) report(value); }
}
