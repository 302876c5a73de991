using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;
using PgBackupTools.Core.Tests.Restore;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Tests.Storage;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Retention;

/// <summary>
/// Retention that runs while a physical backup is unfinished: a long nightly backup is still copying when a later,
/// shorter backup commits with -KeepLast 1 and prunes the WAL before its own start — which the long backup needs.
/// The long backup's in-progress marker keeps that WAL; a marker gone stale (a killed backup) does not, and then the
/// backup's own check before commit is what stops it.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class ConcurrentRetentionTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private string RepoPath => Path.Combine(_temp.Path, "repo");

    public void Dispose() => _temp.Dispose();

    /// <summary>The in-progress markers of stanza 'main' as the store lists them.</summary>
    private static async Task<List<BackupInProgressMarker>> MarkersAsync(BackupRepository repo)
    {
        var found = new List<BackupInProgressMarker>();
        foreach (var key in await repo.ListBackupKeysAsync("main", BackupInProgressMarker.IsMarkerKey, default))
            found.Add((await BackupInProgressMarker.ReadAsync(repo, key, default))!);
        return found;
    }

    /// <summary>
    /// Runs a physical backup; at its first report while copying (its marker then holds its exact start), another
    /// backup commits and a -KeepLast 1 retention run removes the first one and prunes WAL with <paramref name="plan"/>.
    /// </summary>
    private async Task<(Task<PgBackup> Running, Func<WalPrunePlan> Plan, Func<BackupInProgressMarker> SeenMarker, Func<PgBackup> Later, Func<int> Pruned)> RunWithRetentionAsync(
        PgTestCluster cluster, BackupRepository repository, Func<BackupRepository, Task<WalPrunePlan>> plan)
    {
        cluster.Psql("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 1000)");
        var first = await ArchivingCluster.BackupAsync(RepoPath, cluster);

        PgBackup? later = null;
        WalPrunePlan? prunePlan = null;
        BackupInProgressMarker? seen = null;
        int pruned = 0;
        var whileCopying = new SynchronousProgress(p =>
        {
            if (later is not null || p.Status != PhysicalBackupJob.CopyingStatus) return;
            Task.Run(async () =>
            {
                using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, default);
                seen = Assert.Single(await MarkersAsync(repo));
                cluster.Psql("INSERT INTO t SELECT generate_series(1001, 2000); SELECT pg_switch_wal()");
                later = await ArchivingCluster.BackupAsync(RepoPath, cluster);
                await BackupRemover.RemoveAsync(repo, first, default); // -KeepLast 1 judged the two committed backups
                prunePlan = await plan(repo);
                foreach (var range in prunePlan.Ranges)
                {
                    await WalPruner.RemoveAsync(repo.Store, "main", range, OperationContext.None);
                    pruned += range.Files.Count;
                }
            }).GetAwaiter().GetResult();
        });
        var running = PhysicalBackupJob.RunAsync(repository, ArchivingCluster.Connection(cluster), new PhysicalBackupOptions(), new OperationContext { Progress = whileCopying });
        await ((Task)running).ContinueWith(_ => { }, TaskScheduler.Default);
        return (running, () => prunePlan!, () => seen!, () => later!, () => pruned);
    }

    [Fact]
    public async Task A_backup_running_while_retention_prunes_keeps_its_start_WAL_through_its_marker_and_commits_restorable()
    {
        using var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        using var repository = await BackupRepository.OpenAsync(RepoPath, create: false, default);
        var (running, plan, seen, later, pruned) = await RunWithRetentionAsync(cluster, repository,
            repo => WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default));

        var backup = await running;
        // While it copied, its marker held its exact start, and the prune kept the WAL from there for it.
        Assert.Equal(BackupInProgressMarker.RunningPhase, seen().Phase);
        Assert.Equal(backup.Id, seen().BackupId);
        Assert.Equal(backup.StartLsn, seen().StartLsn);
        Assert.Equal(backup.StartWalSegment, seen().StartWalSegment);
        Assert.Equal(backup.Timeline, seen().Timeline);
        Assert.Equal(Environment.ProcessId, seen().Pid);
        Assert.Equal(backup.Id, plan().HeldBy!.BackupId);
        Assert.Equal(backup.StartWalSegment, plan().KeepFrom);
        Assert.Contains($"backup {backup.Id} in progress", plan().Explanation);
        Assert.True(pruned() > 0, "the retention run must have pruned the WAL before the running backup's start");

        // It committed, its marker is gone, and its WAL is whole from its start segment.
        var listed = await repository.ListBackupsAsync("main", OperationContext.None);
        Assert.Equal(new[] { later().Id, backup.Id }.Order(StringComparer.Ordinal), listed.Select(b => b.Id).Order(StringComparer.Ordinal));
        Assert.Empty(await MarkersAsync(repository));
        var archive = new WalArchive(repository, "main");
        Assert.True(await archive.ContainsAsync(backup.StartWalSegment!, default));
        Assert.True((await archive.CheckContinuityAsync(backup.StartWalSegment, default)).Passed);

        // And it restores: every row it had.
        string dir = Path.Combine(_temp.Path, "restored");
        try
        {
            var options = ArchivingCluster.StartedRestore(dir);
            await PhysicalRestoreJob.RunAsync(repository, backup, options, OperationContext.None);
            Assert.Equal("1000", ArchivingCluster.PsqlAt(options.Port!.Value, "SELECT count(*) FROM t WHERE id <= 1000"));
        }
        finally
        {
            ArchivingCluster.StopRestored([dir]);
        }
    }

    [Fact]
    public async Task A_backup_whose_marker_a_retention_run_judged_stale_fails_instead_of_being_listed_as_restorable_and_leaves_nothing()
    {
        using var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        using var repository = await BackupRepository.OpenAsync(RepoPath, create: false, default);
        // A retention run with a grace period shorter than the backup's heartbeat: the running backup looks abandoned.
        var (running, plan, _, later, pruned) = await RunWithRetentionAsync(cluster, repository,
            repo => WalPruner.PlanAsync(repo, "main", new HashSet<string>(), default, TimeSpan.Zero, DateTimeOffset.UtcNow.AddMinutes(5)));

        var e = await Assert.ThrowsAsync<PgBackupException>(() => running);
        Assert.Null(plan().HeldBy);
        Assert.Contains(plan().Warnings, w => w.Contains("grace period"));
        Assert.True(pruned() > 0, "the retention run must have pruned WAL while the backup ran");
        Assert.Contains("missing from the archive", e.Message);
        Assert.Contains("retention", e.Message);

        // What is listed is what can be restored: only the later backup, whose WAL is whole; the failed one left no folder, no marker.
        var listed = await repository.ListBackupsAsync("main", OperationContext.None);
        Assert.Equal([later().Id], listed.Select(b => b.Id));
        Assert.Empty(await MarkersAsync(repository));
        Assert.Empty(await BackupRemover.FindLeftoversAsync(repository, "main", TimeSpan.Zero, DateTimeOffset.UtcNow.AddMinutes(5), default));
        Assert.True((await new WalArchive(repository, "main").CheckContinuityAsync(later().StartWalSegment, default)).Passed);
    }

    [Theory]
    [InlineData(PhysicalBackupMethod.FileCopy)]
    [InlineData(PhysicalBackupMethod.BaseBackup)]
    public async Task A_backup_costs_its_marker_two_writes_and_one_delete_plus_one_write_per_heartbeat(PhysicalBackupMethod method)
    {
        using var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        var store = new CountingStore(new FileSystemStore(RepoPath));
        using var repository = await BackupRepository.OpenAsync(store, create: false, default);
        store.Reset();
        var backup = await PhysicalBackupJob.RunAsync(repository, ArchivingCluster.Connection(cluster),
            new PhysicalBackupOptions { Method = method, HeartbeatInterval = TimeSpan.FromHours(1) }, OperationContext.None);

        string key = BackupInProgressMarker.KeyOf("main", backup.Id);
        // Before the server started the backup (a lower bound of its start), once the start was known, gone after commit.
        Assert.Equal(["create " + key, "create " + key, "delete " + key], store.Calls.Where(c => c.EndsWith(key, StringComparison.Ordinal)));
        Assert.Null(await store.GetInfoAsync(key, default));
    }

    [Fact]
    public async Task A_stalled_backup_keeps_rewriting_its_marker_so_its_folder_stays_fresh()
    {
        using var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        var store = new CountingStore(new FileSystemStore(RepoPath));
        using var repository = await BackupRepository.OpenAsync(store, create: false, default);
        string? key = null;
        var beats = 0;
        // The copy stalls (as on one long file upload) at its first report; meanwhile the heartbeat must go on.
        var stall = new SynchronousProgress(p =>
        {
            if (key is not null || p.Status != PhysicalBackupJob.CopyingStatus) return;
            key = store.Calls.First(c => c.StartsWith("create ", StringComparison.Ordinal) && c.EndsWith(BackupInProgressMarker.FileName, StringComparison.Ordinal))["create ".Length..];
            var until = DateTime.UtcNow.AddMinutes(2);
            while ((beats = store.Calls.Count(c => c == "create " + key)) < 5 && DateTime.UtcNow < until) Thread.Sleep(20);
        });
        var backup = await PhysicalBackupJob.RunAsync(repository, ArchivingCluster.Connection(cluster),
            new PhysicalBackupOptions { Method = PhysicalBackupMethod.FileCopy, HeartbeatInterval = TimeSpan.FromMilliseconds(100) }, new OperationContext { Progress = stall });
        Assert.True(beats >= 5, $"the marker was written {beats} times while the copy stalled");
        Assert.Equal(BackupInProgressMarker.KeyOf("main", backup.Id), key);
        Assert.Null(await store.GetInfoAsync(key!, default));
    }

    private sealed class SynchronousProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }
}
