using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Snapshots;

/// <summary>
/// Removing a Snapshot backup: the real AWSSDK.EC2 client deletes each snapshot at the loopback EC2 endpoint, and only
/// then does the manifest leave a real file-system repository.
/// </summary>
public sealed class SnapshotBackupRemoverTests : IDisposable
{
    private readonly FakeEc2Endpoint _ec2 = new();
    private readonly string _root = Directory.CreateTempSubdirectory("pgbt-snapremove-").FullName;

    public void Dispose()
    {
        _ec2.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<(BackupRepository Repository, PgBackup Backup)> SnapshotBackupAsync(params string[] volumes)
    {
        var repository = await BackupRepository.OpenAsync(_root, create: !File.Exists(Path.Combine(_root, "repository.json")), CancellationToken.None);
        string id = RepositoryNames.NewBackupId(DateTimeOffset.UtcNow);
        var snapshots = new List<PgVolumeSnapshot>();
        foreach (var v in volumes)
        {
            string snap = $"snap-{v}-{id[^6..]}";
            _ec2.AddSnapshot(snap, v, DateTimeOffset.UtcNow, new Dictionary<string, string> { [SnapshotTags.BackupId] = id });
            snapshots.Add(new PgVolumeSnapshot { Provider = SnapshotProvider.Aws, SnapshotId = snap, VolumeId = v, BackupId = id, Region = "eu-west-1", Endpoint = _ec2.Endpoint, Location = "AWS eu-west-1" });
        }
        var backup = new PgBackup { Id = id, Stanza = "main", Type = BackupType.Snapshot, StartTime = DateTimeOffset.UtcNow, SnapshotProvider = SnapshotProvider.Aws, Snapshots = snapshots };
        await repository.WriteManifestAsync(backup, CancellationToken.None);
        return (repository, backup);
    }

    private async Task<bool> InCatalogAsync(BackupRepository repository, string id) =>
        (await repository.ListBackupsAsync("main", OperationContext.None)).Any(b => b.Id == id);

    [Fact]
    public async Task Every_snapshot_is_deleted_at_the_provider_then_the_catalog_entry_goes()
    {
        var (repository, backup) = await SnapshotBackupAsync("vol-data", "vol-wal");
        using var repo = repository;
        using var provider = AwsEbsSnapshotProviderTests.Provider(_ec2);
        var deleted = new List<string>();

        await SnapshotBackupRemover.RemoveAsync(backup.Snapshots!, _ => provider, repository, backup, s => deleted.Add(s.SnapshotId), OperationContext.None);

        Assert.Equal(backup.Snapshots!.Select(s => s.SnapshotId), _ec2.Calls("DeleteSnapshot").Select(c => c.Parameters["SnapshotId"]));
        Assert.Equal(backup.Snapshots!.Select(s => s.SnapshotId), deleted);
        Assert.Empty(_ec2.Snapshots);
        Assert.False(await InCatalogAsync(repository, backup.Id));
    }

    [Fact]
    public async Task A_snapshot_already_gone_counts_as_deleted()
    {
        var (repository, backup) = await SnapshotBackupAsync("vol-data", "vol-wal");
        using var repo = repository;
        using var provider = AwsEbsSnapshotProviderTests.Provider(_ec2);
        await provider.DeleteSnapshotAsync(backup.Snapshots![0].SnapshotId, CancellationToken.None);

        await SnapshotBackupRemover.RemoveAsync(backup.Snapshots!, _ => provider, repository, backup, null, OperationContext.None);

        Assert.Equal(3, _ec2.Calls("DeleteSnapshot").Count());
        Assert.Empty(_ec2.Snapshots);
        Assert.False(await InCatalogAsync(repository, backup.Id));
    }

    [Fact]
    public async Task A_refused_delete_keeps_the_catalog_entry_and_the_error_names_snapshot_volume_provider_and_what_to_do()
    {
        var (repository, backup) = await SnapshotBackupAsync("vol-data", "vol-wal");
        using var repo = repository;
        using var provider = AwsEbsSnapshotProviderTests.Provider(_ec2);
        var refused = backup.Snapshots![1];
        _ec2.UndeletableSnapshots.Add(refused.SnapshotId);

        var e = await Assert.ThrowsAsync<PgBackupException>(() => SnapshotBackupRemover.RemoveAsync(backup.Snapshots!, _ => provider, repository, backup, null, OperationContext.None));

        Assert.Equal(FailureKind.PermissionDenied, e.Kind);
        Assert.Equal(refused.SnapshotId, e.Target);
        Assert.Contains($"snapshot {refused.SnapshotId} of volume vol-wal", e.Message);
        Assert.Contains("AWS eu-west-1", e.Message);
        Assert.Contains("UnauthorizedOperation", e.Message);
        Assert.Contains("1 of its 2 snapshot(s) are already deleted", e.Message);
        Assert.Contains("ec2:DeleteSnapshot", e.Message);
        Assert.Contains("run the removal again", e.Message);
        Assert.DoesNotContain(AwsEbsSnapshotProviderTests.TestSecret, e.ToString());
        Assert.True(await InCatalogAsync(repository, backup.Id));
        Assert.Equal([refused.SnapshotId], _ec2.Snapshots.Select(s => s.Id));

        // Once the cause is fixed, running it again finishes the job: the snapshot already gone is no error.
        _ec2.UndeletableSnapshots.Clear();
        await SnapshotBackupRemover.RemoveAsync(backup.Snapshots!, _ => provider, repository, backup, null, OperationContext.None);
        Assert.Empty(_ec2.Snapshots);
        Assert.False(await InCatalogAsync(repository, backup.Id));
    }

    [Fact]
    public async Task A_failure_on_the_first_snapshot_leaves_the_backup_whole()
    {
        var (repository, backup) = await SnapshotBackupAsync("vol-data", "vol-wal");
        using var repo = repository;
        using var provider = AwsEbsSnapshotProviderTests.Provider(_ec2);
        _ec2.UndeletableSnapshots.Add(backup.Snapshots![0].SnapshotId);

        var e = await Assert.ThrowsAsync<PgBackupException>(() => SnapshotBackupRemover.RemoveAsync(backup.Snapshots!, _ => provider, repository, backup, null, OperationContext.None));

        Assert.Contains("stays in the catalog with all 2 snapshot(s)", e.Message);
        Assert.Single(_ec2.Calls("DeleteSnapshot"));
        Assert.Equal(2, _ec2.Snapshots.Count);
        Assert.True(await InCatalogAsync(repository, backup.Id));
    }

    [Fact]
    public void The_target_a_manifest_records_is_where_the_snapshot_is_reached()
    {
        var target = SnapshotTarget.Of(new PgVolumeSnapshot { Provider = SnapshotProvider.Gcp, Region = "europe-west1-b", Project = "p1", Endpoint = "http://127.0.0.1:1/compute/v1/" });
        Assert.Equal(new SnapshotTarget { Provider = SnapshotProvider.Gcp, Region = "europe-west1-b", Zone = "europe-west1-b", Project = "p1", Endpoint = "http://127.0.0.1:1/compute/v1/" }, target);
    }
}
