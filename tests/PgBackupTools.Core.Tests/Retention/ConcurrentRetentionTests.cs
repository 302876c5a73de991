using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;
using PgBackupTools.Core.Tests.Restore;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Tests.Retention;

/// <summary>
/// Retention that runs while a physical backup is unfinished: a long nightly backup is still copying when a later,
/// shorter backup commits with -KeepLast 1 and prunes the WAL before its own start — which the long backup needs.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class ConcurrentRetentionTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private string RepoPath => Path.Combine(_temp.Path, "repo");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_backup_whose_WAL_a_concurrent_retention_run_pruned_fails_instead_of_being_listed_as_restorable()
    {
        using var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        cluster.Psql("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 1000)");
        var first = await ArchivingCluster.BackupAsync(RepoPath, cluster);

        PgBackup? later = null;
        int pruned = 0;
        // The long backup has started (its start LSN is fixed) and copies files: the moment another backup and its
        // retention run strike. Its first progress report while copying is that moment, deterministically.
        var whileCopying = new SynchronousProgress(p =>
        {
            if (later is not null || p.Status != "copying files") return;
            Task.Run(async () =>
            {
                cluster.Psql("INSERT INTO t SELECT generate_series(1001, 2000); SELECT pg_switch_wal()");
                later = await ArchivingCluster.BackupAsync(RepoPath, cluster);
                using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, default);
                await BackupRemover.RemoveAsync(repo, first, default); // -KeepLast 1 judged the two committed backups
                var plan = await WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default);
                foreach (var range in plan.Ranges)
                {
                    await WalPruner.RemoveAsync(repo.Store, "main", range, OperationContext.None);
                    pruned += range.Files.Count;
                }
            }).GetAwaiter().GetResult();
        });

        using var repository = await BackupRepository.OpenAsync(RepoPath, create: false, default);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalBackupJob.RunAsync(repository, ArchivingCluster.Connection(cluster),
            new PhysicalBackupOptions(), new OperationContext { Progress = whileCopying }));
        Assert.NotNull(later);
        Assert.True(pruned > 0, "the retention run must have pruned WAL while the backup ran");
        Assert.Contains("missing from the archive", e.Message);
        Assert.Contains("retention", e.Message);

        // What is listed is what can be restored: only the later backup, whose WAL is whole.
        var listed = await repository.ListBackupsAsync("main", OperationContext.None);
        Assert.Equal([later!.Id], listed.Select(b => b.Id));
        Assert.True((await new WalArchive(repository, "main").CheckContinuityAsync(later.StartWalSegment, default)).Passed);
    }

    private sealed class SynchronousProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }
}
