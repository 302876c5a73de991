using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Google.Apis.Auth.OAuth2;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Snapshots;

/// <summary>
/// HttpClient and Google.Apis.Auth against a loopback Compute v1 endpoint: a service-account key whose token_uri
/// points at the endpoint is exchanged for a token (a real signed JWT grant), then the snapshot calls are made.
/// </summary>
public sealed class GcpDiskSnapshotProviderTests : IDisposable
{
    private readonly FakeGcpComputeEndpoint _gcp = new();

    internal static GcpDiskSnapshotProvider Provider(FakeGcpComputeEndpoint gcp)
    {
        using var rsa = RSA.Create(2048);
        var key = new JsonObject
        {
            ["type"] = "service_account", ["project_id"] = "pgbt-test", ["private_key_id"] = "k1",
            ["private_key"] = rsa.ExportPkcs8PrivateKeyPem(), ["client_email"] = "pgbt@pgbt-test.iam.gserviceaccount.com",
            ["client_id"] = "1", ["token_uri"] = gcp.TokenUri,
        };
        var credential = CredentialFactory.FromJson<ServiceAccountCredential>(key.ToJsonString()).ToGoogleCredential();
        return new GcpDiskSnapshotProvider(new SnapshotTarget
        {
            Provider = SnapshotProvider.Gcp, Project = "pgbt-test", Zone = "europe-west1-b", Endpoint = gcp.ComputeBase, MaxPollInterval = TimeSpan.FromMilliseconds(50),
        }, credential);
    }

    [Fact]
    public void Without_credentials_the_error_is_PermissionDenied_and_says_where_credentials_come_from()
    {
        // A key file that does not exist: the application default credentials fail at once, without probing the metadata server.
        string missing = Path.Combine(Path.GetTempPath(), $"pgbt-no-gcp-key-{Guid.NewGuid():N}.json");
        string? saved = Environment.GetEnvironmentVariable("GOOGLE_APPLICATION_CREDENTIALS");
        Environment.SetEnvironmentVariable("GOOGLE_APPLICATION_CREDENTIALS", missing);
        try
        {
            var e = Assert.Throws<PgBackupException>(() => new GcpDiskSnapshotProvider(new SnapshotTarget { Provider = SnapshotProvider.Gcp, Project = "pgbt-test" }));
            Assert.Equal(FailureKind.PermissionDenied, e.Kind);
            Assert.Contains("No GCP credentials found: set GOOGLE_APPLICATION_CREDENTIALS", e.Message, StringComparison.Ordinal);
            Assert.Contains(missing, e.Message, StringComparison.Ordinal);
        }
        finally { Environment.SetEnvironmentVariable("GOOGLE_APPLICATION_CREDENTIALS", saved); }
    }

    private static SnapshotTarget Timing => new() { Provider = SnapshotProvider.Gcp, MaxPollInterval = TimeSpan.FromMilliseconds(50) };

    [Fact]
    public async Task A_set_is_created_with_labels_and_request_ids_waited_for_and_found_by_its_backup_id()
    {
        using var provider = Provider(_gcp);
        var made = await SnapshotSet.StartAsync(provider, ["pg-data", "pg-wal"], "20260101T000000Z-ab12cd", new Dictionary<string, string> { ["team"] = "DB" }, OperationContext.None);
        var done = await SnapshotSet.WaitForCompletionAsync(provider, made, Timing, "t", OperationContext.None);

        var creates = _gcp.Requests.Where(r => r.Path.EndsWith("/createSnapshot", StringComparison.Ordinal)).ToList();
        Assert.Equal(["/compute/v1/projects/pgbt-test/zones/europe-west1-b/disks/pg-data/createSnapshot", "/compute/v1/projects/pgbt-test/zones/europe-west1-b/disks/pg-wal/createSnapshot"], creates.Select(c => c.Path));
        Assert.All(creates, c => Assert.True(Guid.TryParse(c.Parameters["requestId"], out _)));
        Assert.Equal(GcpDiskSnapshotProvider.RequestId("20260101T000000Z-ab12cd-1"), creates[0].Parameters["requestId"]);
        var body = JsonNode.Parse(creates[0].Body)!;
        Assert.Equal("20260101t000000z-ab12cd", body["labels"]!["pgbt-backup-id"]!.GetValue<string>());
        Assert.Equal("db", body["labels"]!["team"]!.GetValue<string>());
        Assert.All(_gcp.Requests.Where(r => r.Path.StartsWith("/compute/", StringComparison.Ordinal)), r => Assert.Equal("Bearer " + FakeGcpComputeEndpoint.AccessToken, r.Authorization));
        Assert.Contains(_gcp.Requests, r => r.Path == "/token" && r.Body.Contains("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", StringComparison.Ordinal));
        Assert.All(done, s => Assert.True(s.Completed));
        Assert.Equal(["pg-data", "pg-wal"], done.Select(s => s.VolumeId));
        Assert.Equal("DB", done[0].Tags["team"]); // exact values come back from the description

        var listed = await provider.ListSnapshotsAsync(new Dictionary<string, string> { [SnapshotTags.BackupId] = "20260101T000000Z-ab12cd" }, CancellationToken.None);
        Assert.Equal(2, listed.Count);
        Assert.All(listed, s => Assert.Equal("20260101T000000Z-ab12cd", s.BackupId));
        Assert.Contains(_gcp.Requests, r => r.Parameters.GetValueOrDefault("filter") == "labels.pgbt-backup-id=\"20260101t000000z-ab12cd\"");

        var volume = await provider.CreateVolumeAsync(done[0], "europe-west1-c", new Dictionary<string, string>(), "restore-1", CancellationToken.None);
        Assert.Equal("READY", volume.State);
        Assert.Equal("europe-west1-c", volume.Zone);
        Assert.Equal($"projects/pgbt-test/global/snapshots/{done[0].SnapshotId}", Assert.Single(_gcp.Disks)["sourceSnapshot"]!.GetValue<string>());
        Assert.Contains(_gcp.Requests, r => r.Path.EndsWith("/wait", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rate_limits_are_retried_and_a_retried_create_is_the_same_request()
    {
        using var provider = Provider(_gcp);
        _gcp.Throttle(2);
        var one = await provider.CreateSnapshotAsync("pg-data", new Dictionary<string, string>(), "tok-1", CancellationToken.None);
        var two = await provider.CreateSnapshotAsync("pg-data", new Dictionary<string, string>(), "tok-1", CancellationToken.None);
        Assert.Equal(one.SnapshotId, two.SnapshotId);
        Assert.Single(_gcp.Snapshots);
        Assert.Equal(4, _gcp.Requests.Count(r => r.Path.EndsWith("/createSnapshot", StringComparison.Ordinal))); // two 429s, then two answered
    }

    [Fact]
    public async Task A_failure_mid_set_deletes_what_was_made_and_names_the_disk()
    {
        using var provider = Provider(_gcp);
        _gcp.FailingDisks.Add("pg-wal");
        var e = await Assert.ThrowsAsync<PgBackupException>(() =>
            SnapshotSet.StartAsync(provider, ["pg-data", "pg-wal"], "set-x", new Dictionary<string, string>(), OperationContext.None));
        Assert.Contains("pg-wal", e.Message);
        Assert.Contains("not ready", e.Message);
        Assert.Empty(_gcp.Snapshots);
        Assert.Contains(_gcp.Requests, r => r.Method == "DELETE");
    }

    public void Dispose() => _gcp.Dispose();
}
