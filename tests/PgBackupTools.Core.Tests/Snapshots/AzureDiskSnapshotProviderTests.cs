using System.Text.Json.Nodes;
using Azure.Core;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Snapshots;

/// <summary>HttpClient with an injected TokenCredential against a loopback endpoint speaking ARM's JSON and long-running operations.</summary>
public sealed class AzureDiskSnapshotProviderTests : IDisposable
{
    private const string Sub = "00000000-0000-0000-0000-0000000000aa";
    private readonly FakeArmEndpoint _arm = new();

    private sealed class StaticToken : TokenCredential
    {
        public List<string> Scopes { get; } = [];
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Scopes.AddRange(requestContext.Scopes);
            return new AccessToken("arm-test-token", DateTimeOffset.UtcNow.AddHours(1));
        }
        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => new(GetToken(requestContext, cancellationToken));
    }

    private readonly StaticToken _token = new();

    private AzureDiskSnapshotProvider Provider() => new(new SnapshotTarget
    {
        Provider = SnapshotProvider.Azure, SubscriptionId = Sub, Endpoint = _arm.Endpoint, MaxPollInterval = TimeSpan.FromMilliseconds(50),
    }, _token);

    private static SnapshotTarget Timing => new() { Provider = SnapshotProvider.Azure, MaxPollInterval = TimeSpan.FromMilliseconds(50) };

    [Fact]
    public async Task A_set_is_put_as_incremental_copies_with_tags_followed_to_success_and_polled_to_completion()
    {
        string data = _arm.AddDisk(Sub, "rg-db", "pg-data", "westeurope"), wal = _arm.AddDisk(Sub, "rg-db", "pg-wal", "westeurope");
        using var provider = Provider();
        var made = await SnapshotSet.StartAsync(provider, [data, wal], "20260101T000000Z-ab12cd", new Dictionary<string, string> { ["team"] = "DB" }, OperationContext.None);
        var done = await SnapshotSet.WaitForCompletionAsync(provider, made, Timing, "t", OperationContext.None);

        var puts = _arm.Requests.Where(r => r.Method == "PUT").ToList();
        Assert.Equal([
            $"/subscriptions/{Sub}/resourceGroups/rg-db/providers/Microsoft.Compute/snapshots/pgbt-20260101T000000Z-ab12cd-1",
            $"/subscriptions/{Sub}/resourceGroups/rg-db/providers/Microsoft.Compute/snapshots/pgbt-20260101T000000Z-ab12cd-2"], puts.Select(r => r.Path));
        var body = JsonNode.Parse(puts[0].Body)!;
        Assert.Equal("Copy", body["properties"]!["creationData"]!["createOption"]!.GetValue<string>());
        Assert.Equal(data, body["properties"]!["creationData"]!["sourceResourceId"]!.GetValue<string>());
        Assert.True(body["properties"]!["incremental"]!.GetValue<bool>());
        Assert.Equal("westeurope", body["location"]!.GetValue<string>());
        Assert.Equal("20260101T000000Z-ab12cd", body["tags"]!["pgbt-backup-id"]!.GetValue<string>());
        Assert.Equal("DB", body["tags"]!["team"]!.GetValue<string>());
        Assert.Contains(_arm.Requests, r => r.Path.StartsWith("/operations/", StringComparison.Ordinal));
        Assert.All(_arm.Requests, r => Assert.Equal("Bearer arm-test-token", r.Authorization));
        Assert.All(_arm.Requests.Where(r => !r.Path.StartsWith("/operations/", StringComparison.Ordinal)), r => Assert.Equal("2023-10-02", r.Parameters["api-version"]));
        Assert.Contains(_arm.Endpoint + "/.default", _token.Scopes);
        Assert.All(done, s => Assert.True(s.Completed));
        Assert.Equal([data, wal], done.Select(s => s.VolumeId));

        var listed = await provider.ListSnapshotsAsync(new Dictionary<string, string> { [SnapshotTags.BackupId] = "20260101T000000Z-ab12cd" }, CancellationToken.None);
        Assert.Equal(2, listed.Count);

        var volume = await provider.CreateVolumeAsync(done[0], "westeurope", new Dictionary<string, string>(), "restore-1", CancellationToken.None);
        Assert.Equal("Succeeded", volume.State);
        Assert.Equal(done[0].SnapshotId, _arm.Disks.Single(d => d["name"]!.GetValue<string>() == "pgbt-restore-1")["properties"]!["creationData"]!["sourceResourceId"]!.GetValue<string>());

        await provider.DeleteSnapshotAsync(done[0].SnapshotId, CancellationToken.None);
        await provider.DeleteSnapshotAsync(done[0].SnapshotId, CancellationToken.None); // gone already: success
        Assert.Single(_arm.Snapshots);
    }

    [Fact]
    public async Task Throttling_is_retried_and_a_repeated_put_is_the_same_snapshot()
    {
        string data = _arm.AddDisk(Sub, "rg-db", "pg-data", "westeurope");
        using var provider = Provider();
        _arm.Throttle(2);
        var one = await provider.CreateSnapshotAsync(data, new Dictionary<string, string>(), "tok-1", CancellationToken.None);
        var two = await provider.CreateSnapshotAsync(data, new Dictionary<string, string>(), "tok-1", CancellationToken.None);
        Assert.Equal(one.SnapshotId, two.SnapshotId);
        Assert.Single(_arm.Snapshots);
        Assert.Equal(3, _arm.Requests.Count(r => r.Method == "GET" && r.Path == data) - 1); // two 429s, then the disk read of each create
    }

    [Fact]
    public async Task A_failure_mid_set_deletes_what_was_made_and_names_the_disk()
    {
        string data = _arm.AddDisk(Sub, "rg-db", "pg-data", "westeurope"), wal = _arm.AddDisk(Sub, "rg-db", "pg-wal", "westeurope");
        _arm.FailingDisks.Add(wal);
        using var provider = Provider();
        var e = await Assert.ThrowsAsync<PgBackupException>(() => SnapshotSet.StartAsync(provider, [data, wal], "set-x", new Dictionary<string, string>(), OperationContext.None));
        Assert.Contains("pg-wal", e.Message);
        Assert.Contains("OperationNotAllowed", e.Message);
        Assert.Empty(_arm.Snapshots);
        Assert.Contains(_arm.Requests, r => r.Method == "DELETE");
    }

    public void Dispose() => _arm.Dispose();
}
