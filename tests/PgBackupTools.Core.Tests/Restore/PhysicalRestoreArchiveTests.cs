using System.Diagnostics;
using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Verify;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// What the archive must hold for a physical restore, against real clusters: a hole in it refuses the restore up front
/// (or fails it after recovery, never a silent short promotion), recovery follows a promoted timeline that archives
/// into the same stanza. (Clusters with tablespaces: PhysicalRestoreTablespaceTests.)
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class PhysicalRestoreArchiveTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly List<string> _started = [];
    private string RepoPath => Path.Combine(_temp.Path, "repo");

    [Fact]
    public async Task A_segment_deleted_from_the_middle_of_the_archive_refuses_a_restore_past_it_and_names_it_and_a_restore_before_it_works()
    {
        using var cluster = await StartArchivingClusterAsync();
        var backup = await BackupAsync(cluster);
        cluster.Psql("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 10)");
        string beforeGap = cluster.Psql("SELECT pg_current_wal_lsn()");
        var segments = await SwitchAndArchiveAsync(cluster, 3);
        cluster.Psql("INSERT INTO t SELECT generate_series(11, 20)");
        await SwitchAndArchiveAsync(cluster, 1);
        string middle = segments[1];
        DeleteArchived(middle);

        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        string dir = Path.Combine(_temp.Path, "latest");
        var e = await Assert.ThrowsAsync<WalGapException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(dir), OperationContext.None));
        Assert.Contains(middle, e.Message);
        Assert.Contains("nothing was written", e.Message);
        Assert.Equal(middle, Assert.Single(e.Gaps).First);
        Assert.False(Directory.Exists(dir));

        // A target LSN past the gap is refused the same way; a time after it too (its segment was archived after the gap).
        string afterGap = cluster.Psql("SELECT pg_current_wal_lsn()");
        await Assert.ThrowsAsync<WalGapException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(dir) with { TargetLsn = afterGap }, OperationContext.None));
        await Assert.ThrowsAsync<WalGapException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(dir) with { TargetTime = DateTimeOffset.UtcNow }, OperationContext.None));
        Assert.False(Directory.Exists(dir));

        // Recovering as far as the archive goes is asked for with a target before the gap: that works.
        var result = await PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "before-gap")) with { TargetLsn = beforeGap }, OperationContext.None);
        Assert.Equal("promoted", result.RecoveryState);
        Assert.Equal("10", PsqlAt(result.Port!.Value, "SELECT count(*) FROM t"));

        // Test-PgBackup -Restore: the backup itself is fine to its consistent point, but the archive cannot carry it past the gap.
        var test = await BackupTestJob.RunAsync(repo, backup, null, restore: true, [], OperationContext.None, WalTestSegments.EntryPoint);
        Assert.False(test.Passed);
        var walCheck = Assert.Single(test.Checks, c => c.Kind == "WalArchive");
        Assert.False(walCheck.Passed);
        Assert.Contains(middle, walCheck.Actual);
        Assert.True(test.Restored, test.Error);
    }

    [Fact]
    public async Task A_segment_the_server_cannot_fetch_during_recovery_stops_recovery_without_promoting_and_a_restart_after_the_fix_loses_nothing()
    {
        using var cluster = await StartArchivingClusterAsync();
        var backup = await BackupAsync(cluster);
        cluster.Psql("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 10)");
        var segments = await SwitchAndArchiveAsync(cluster, 3);
        // Listed (so the check before the restore passes) but unreadable by the server user that runs restore_command,
        // as a store outage or a wrong permission would be. PostgreSQL would take a plain failure for the end of the
        // archive and promote early, forking a new timeline without the rows after it.
        string key = Assert.Single(Directory.GetFiles(Path.Combine(RepoPath, "wal", "main", "00000001"), segments[1] + ".*"));
        var mode = File.GetUnixFileMode(key);
        File.SetUnixFileMode(key, UnixFileMode.None);

        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        string dir = Path.Combine(_temp.Path, "short");
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(dir), OperationContext.None));
        Assert.Contains("recovery stopped instead of promoting", e.Message);
        Assert.Contains(segments[1], e.Message); // pgbt-wal's line in the log tail names the segment
        Assert.False(File.Exists(Path.Combine(dir, "postmaster.pid")), "the server stops");
        Assert.True(File.Exists(Path.Combine(dir, "recovery.signal")), "nothing promoted");
        Assert.Empty(Directory.GetFiles(Path.Combine(RepoPath, "wal", "main"), "00000002.history*", SearchOption.AllDirectories));

        // The cause fixed, the server started again by hand resumes recovery and ends at the newest archived WAL.
        File.SetUnixFileMode(key, mode);
        string log = Path.Combine(dir, "log", "pgbt-restore.log");
        PgTestCluster.RunAsServerUser(Path.Combine(PgTestCluster.FindBinDirectory(), "pg_ctl"), "-D", dir, "-l", log, "-w", "-t", "120", "start");
        int port = int.Parse(File.ReadAllLines(Path.Combine(dir, "postmaster.pid"))[3], System.Globalization.CultureInfo.InvariantCulture);
        var waited = Stopwatch.StartNew();
        while (PsqlAt(port, "SELECT pg_is_in_recovery()") == "True")
        {
            Assert.True(waited.Elapsed < TimeSpan.FromMinutes(2), "recovery did not end");
            await Task.Delay(200);
        }
        Assert.Equal("10", PsqlAt(port, "SELECT count(*) FROM t"));
        Assert.Contains(segments[^1], File.ReadAllText(log)); // replayed through the newest archived segment
    }

    [Fact]
    public async Task A_time_target_in_WAL_not_archived_yet_fails_with_the_advice_to_switch_WAL_on_the_source_first()
    {
        using var cluster = await StartArchivingClusterAsync();
        var backup = await BackupAsync(cluster);
        await SwitchAndArchiveAsync(cluster, 1);
        // "Now": the rows just written are in the segment the server is still filling, which nothing has archived.
        cluster.Psql("CREATE TABLE recent(id int); INSERT INTO recent SELECT generate_series(1, 10)");
        var target = DateTimeOffset.UtcNow;

        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        string dir = Path.Combine(_temp.Path, "now");
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(dir) with { TargetTime = target }, OperationContext.None));
        Assert.Contains("Recovery ran out of archived WAL before reaching", e.Message);
        Assert.Contains("SELECT pg_switch_wal(); on the source server", e.Message);
        Assert.True(File.Exists(Path.Combine(dir, "recovery.signal")), "nothing promoted");
    }

    [Fact]
    public async Task A_restore_to_latest_from_a_timeline_1_backup_follows_a_promoted_timeline_2_that_archives_into_the_same_stanza()
    {
        using var cluster = await StartArchivingClusterAsync();
        var backup = await BackupAsync(cluster);
        cluster.Psql("CREATE TABLE t(id int, tl text); INSERT INTO t SELECT g, 'tl1' FROM generate_series(1, 10) g");
        string branchPoint = cluster.Psql("SELECT pg_current_wal_lsn()");
        // The source goes on on timeline 1: these rows are after the branch and must never appear on timeline 2.
        cluster.Psql("INSERT INTO t SELECT g, 'tl1-after' FROM generate_series(11, 20) g");
        await SwitchAndArchiveAsync(cluster, 2);

        // A PITR restore to the branch point promotes to timeline 2 and, with the source's settings, archives into the same stanza.
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var pitr = await PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "tl2"), archive: true) with { TargetLsn = branchPoint }, OperationContext.None);
        Assert.Equal(2u, pitr.Timeline);
        int tl2Port = pitr.Port!.Value;
        PsqlAt(tl2Port, "INSERT INTO t SELECT g, 'tl2' FROM generate_series(101, 105) g");
        var timeOnTl2 = DateTimeOffset.Parse(PsqlAt(tl2Port, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"), System.Globalization.CultureInfo.InvariantCulture);
        await Task.Delay(100);
        PsqlAt(tl2Port, "INSERT INTO t SELECT g, 'tl2-later' FROM generate_series(106, 110) g");
        string tl2Segment = PsqlAt(tl2Port, "SELECT pg_walfile_name(pg_current_wal_lsn())");
        PsqlAt(tl2Port, "SELECT pg_switch_wal()");
        var archive = new WalArchive(repo, "main");
        await WaitArchivedAsync(archive, tl2Segment, () => File.ReadAllText(Path.Combine(pitr.DataDirectory!, "log", "pgbt-restore.log")));
        Assert.True(await archive.ContainsAsync("00000002.history", CancellationToken.None));
        Assert.StartsWith("00000002", tl2Segment);

        // From the same timeline-1 backup, "latest" is the end of timeline 2.
        var latest = await PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "latest")), OperationContext.None);
        Assert.Equal("promoted", latest.RecoveryState);
        Assert.Equal(3u, latest.Timeline);
        Assert.StartsWith("00000002", latest.WalThrough);
        const string Summary = "SELECT string_agg(format('%s-%s %s', lo, hi, tl), ', ' ORDER BY lo) FROM (SELECT min(id) lo, max(id) hi, tl FROM t GROUP BY tl) s";
        Assert.Equal("1-10 tl1, 101-105 tl2, 106-110 tl2-later", PsqlAt(latest.Port!.Value, Summary));

        // A time on timeline 2, from the same timeline-1 backup.
        var atTime = await PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "tl2-time")) with { TargetTime = timeOnTl2 }, OperationContext.None);
        Assert.Equal(3u, atTime.Timeline);
        Assert.Equal("1-10 tl1, 101-105 tl2", PsqlAt(atTime.Port!.Value, Summary));

        // With a timeline-2 segment gone, the same restore is refused and names it on timeline 2.
        DeleteArchived(tl2Segment);
        var e = await Assert.ThrowsAsync<WalGapException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "latest-gap")), OperationContext.None));
        Assert.Equal(2u, Assert.Single(e.Gaps).Timeline);
        Assert.Contains(tl2Segment, e.Message);
    }

    [Fact]
    public async Task A_backup_restored_and_promoted_into_the_same_stanza_still_restores_to_its_consistent_point_before_the_new_timeline_archived_a_segment()
    {
        // A restore -Immediate -Start promotes to timeline 2 at the backup's end and, with the source's settings,
        // archives 00000002.history into the same stanza; its first segment is still being written. A second restore of
        // the same backup asks for 000000020000000000000002 first, then falls back to timeline 1's copy, which holds the
        // WAL up to the switch point: all an -Immediate restore needs. It used to be refused as a gap.
        using var cluster = await StartArchivingClusterAsync();
        cluster.Psql("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g");
        var backup = await BackupAsync(cluster);
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var first = await PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "first"), archive: true) with { Immediate = true }, OperationContext.None);
        Assert.Equal(2u, first.Timeline);
        var archive = new WalArchive(repo, "main");
        await WaitArchivedAsync(archive, "00000002.history", () => File.ReadAllText(Path.Combine(first.DataDirectory!, "log", "pgbt-restore.log")));
        string tl2Segment = PsqlAt(first.Port!.Value, "SELECT pg_walfile_name(pg_current_wal_lsn())");
        Assert.StartsWith("00000002", tl2Segment);
        Assert.False(await archive.ContainsAsync(tl2Segment, CancellationToken.None));

        var second = await PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "second")) with { Immediate = true }, OperationContext.None);
        Assert.Equal("promoted", second.RecoveryState);
        Assert.Equal("1000", PsqlAt(second.Port!.Value, "SELECT count(*) FROM t"));

        // Recovery to latest does need that segment: refused, naming it.
        var e = await Assert.ThrowsAsync<WalGapException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "latest")), OperationContext.None));
        Assert.Contains(tl2Segment, e.Message);
    }

    // ------------------------------------------------------------------ helpers

    private Task<PgTestCluster> StartArchivingClusterAsync() => ArchivingCluster.StartAsync(RepoPath, _temp.Path);

    private static PgConnectionInfo Server(PgTestCluster cluster) => ArchivingCluster.Connection(cluster);

    /// <summary>Switches WAL <paramref name="count"/> times (each switched segment holding a record) and waits until all are archived.</summary>
    private async Task<List<string>> SwitchAndArchiveAsync(PgTestCluster cluster, int count)
    {
        var names = new List<string>();
        for (int i = 0; i < count; i++)
        {
            cluster.Psql("CREATE TABLE IF NOT EXISTS filler(x int); INSERT INTO filler VALUES (1)");
            names.Add(cluster.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())"));
            cluster.Psql("SELECT pg_switch_wal()");
        }
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        await WaitArchivedAsync(new WalArchive(repo, "main"), names[^1], () => File.ReadAllText(cluster.LogFile));
        return names;
    }

    private static async Task WaitArchivedAsync(WalArchive archive, string name, Func<string> log)
    {
        for (var wait = Stopwatch.StartNew(); !await archive.ContainsAsync(name, CancellationToken.None); await Task.Delay(200))
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(90), $"{name} was not archived: {log()}");
    }

    private PhysicalRestoreOptions Options(string dir, bool archive = false)
    {
        _started.Add(dir);
        return ArchivingCluster.StartedRestore(dir, archive);
    }

    private void DeleteArchived(string segment) =>
        File.Delete(Assert.Single(Directory.GetFiles(Path.Combine(RepoPath, "wal", "main", segment[..8]), segment + ".*")));

    private Task<PgBackup> BackupAsync(PgTestCluster cluster) => ArchivingCluster.BackupAsync(RepoPath, cluster);

    private static string PsqlAt(int port, string sql) => ArchivingCluster.PsqlAt(port, sql);

    public void Dispose()
    {
        ArchivingCluster.StopRestored(_started);
        _temp.Dispose();
    }
}
