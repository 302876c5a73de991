using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Tests.Restore;
using PgBackupTools.Core.Verify;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Tests.Backup;

/// <summary>Two physical backups of one cluster at once (a scheduled one and an ad-hoc one), into one repository.</summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class ConcurrentPhysicalBackupTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private string RepoPath => Path.Combine(_temp.Path, "repo");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_file_copy_and_a_base_backup_at_once_both_commit_whole_and_their_WAL_is_continuous()
    {
        using var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        cluster.Psql("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 200000)");

        async Task<PgBackup> RunAsync(PhysicalBackupMethod method)
        {
            using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, default);
            return await PhysicalBackupJob.RunAsync(repo, ArchivingCluster.Connection(cluster), new PhysicalBackupOptions { Method = method }, OperationContext.None);
        }
        var backups = await Task.WhenAll(Task.Run(() => RunAsync(PhysicalBackupMethod.FileCopy)), Task.Run(() => RunAsync(PhysicalBackupMethod.BaseBackup)));

        Assert.Equal([PhysicalBackupMethod.FileCopy, PhysicalBackupMethod.BaseBackup], backups.Select(b => b.Method!.Value));
        Assert.NotEqual(backups[0].Id, backups[1].Id);
        using var repository = await BackupRepository.OpenAsync(RepoPath, create: false, default);
        Assert.Equal(backups.Select(b => b.Id).Order(StringComparer.Ordinal), (await repository.ListBackupsAsync("main", OperationContext.None)).Select(b => b.Id).Order(StringComparer.Ordinal));
        foreach (var backup in backups)
        {
            Assert.True((await BackupTestJob.RunAsync(repository, backup, null, restore: false, [], OperationContext.None)).Passed);
            Assert.True((await new WalArchive(repository, "main").CheckContinuityAsync(backup.StartWalSegment, default)).Passed);
        }
    }
}
