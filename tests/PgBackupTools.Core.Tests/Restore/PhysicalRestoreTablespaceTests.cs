using System.Diagnostics;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Verify;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// A cluster with a tablespace, against real clusters: the file copy carries the tablespace, a restore puts it into a
/// mapped directory (the rows there, pg_tablespace_location naming it) without touching the original, a non-empty
/// target is refused (nothing written) or with -Force moved aside, Test-PgBackup -Restore keeps its copy beside its
/// scratch directory, and the BaseBackup method refuses such a cluster saying to use FileCopy.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class PhysicalRestoreTablespaceTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly List<string> _started = [];
    private string RepoPath => Path.Combine(_temp.Path, "repo");
    private string Location => Path.Combine(_temp.Path, "fast-disk");
    private const string LocationQuery = "SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'fast'";

    [Fact]
    public async Task A_tablespace_is_copied_and_restored_into_a_mapped_directory_and_the_original_is_not_touched()
    {
        using var cluster = await StartClusterWithTablespaceAsync();
        var backup = await ArchivingCluster.BackupAsync(RepoPath, cluster);
        Assert.Equal(PhysicalBackupMethod.FileCopy, backup.Method);
        var tablespace = Assert.Single(backup.Tablespaces!);
        Assert.Equal("fast", tablespace.Name);
        Assert.Equal(Location, tablespace.Location);
        Assert.Equal(cluster.Psql("SELECT oid FROM pg_tablespace WHERE spcname = 'fast'"), tablespace.Oid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        // After the backup: replayed from the archive into the restored tablespace.
        cluster.Psql("INSERT INTO fast_rows SELECT g, 'after' FROM generate_series(1001, 1500) g");
        await SwitchAndArchiveAsync(cluster);
        cluster.Stop(); // the original tablespace stays as it is now: any change to it below was the restore's
        var original = Snapshot(Location);

        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        string dir = Path.Combine(_temp.Path, "restored"), target = Path.Combine(_temp.Path, "restored-fast");
        var mapping = new Dictionary<string, string> { [Location] = target };

        // Without a mapping the tablespace would go back to its original location, which is not empty: refused.
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(dir), OperationContext.None));
        Assert.Contains(Location, e.Message);
        Assert.Contains("-TablespaceMapping", e.Message);
        Assert.False(Directory.Exists(dir));
        // Not even with -Force: the data directory being replaced does not link to it, so it may be a running server's.
        e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(dir) with { Force = true }, OperationContext.None));
        Assert.Contains("even -Force", e.Message);
        Assert.False(Directory.Exists(dir));

        // A mapped target that is not empty: refused, nothing written anywhere.
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "keep.txt"), "not ours");
        e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, Options(dir) with { TablespaceMapping = mapping }, OperationContext.None));
        Assert.Equal(FailureKind.InvalidArgument, e.Kind);
        Assert.Contains(target, e.Message);
        Assert.Contains("not empty", e.Message);
        Assert.False(Directory.Exists(dir));
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(target).Select(Path.GetFileName));

        // A key that is no tablespace's location: refused (a typo must not send the tablespace to its original place).
        e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup,
            Options(dir) with { TablespaceMapping = new Dictionary<string, string> { [Location + "-typo"] = target } }, OperationContext.None));
        Assert.Contains("not the location of a tablespace", e.Message);
        Assert.False(Directory.Exists(dir));

        // With -Force the occupied target is moved aside (never deleted) and the restore goes through.
        var result = await PhysicalRestoreJob.RunAsync(repo, backup, Options(dir) with { TablespaceMapping = mapping, Force = true }, OperationContext.None);
        Assert.Equal("promoted", result.RecoveryState);
        Assert.Equal(target, Assert.Single(result.Tablespaces!).Location);
        int port = result.Port!.Value;
        Assert.Equal("1500", ArchivingCluster.PsqlAt(port, "SELECT count(*) FROM fast_rows"));
        Assert.Equal("500", ArchivingCluster.PsqlAt(port, "SELECT count(*) FROM fast_rows WHERE note = 'after'"));
        Assert.Equal(target, ArchivingCluster.PsqlAt(port, LocationQuery));
        Assert.Equal("fast", ArchivingCluster.PsqlAt(port, "SELECT t.spcname FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace WHERE c.relname = 'fast_rows'"));
        Assert.Equal(target, new FileInfo(Path.Combine(dir, "pg_tblspc", tablespace.Oid.ToString(System.Globalization.CultureInfo.InvariantCulture))).LinkTarget);
        Assert.NotEmpty(Directory.GetDirectories(target, "PG_15_*"));
        string aside = Assert.Single(Directory.GetDirectories(_temp.Path, "restored-fast.pgbt-old-*"));
        Assert.Equal("not ours", File.ReadAllText(Path.Combine(aside, "keep.txt")));

        Assert.Equal(original, Snapshot(Location));

        // Replacing the source's own (stopped) data directory, which links to the original location: with -Force both
        // are moved aside and the tablespace goes back where it was.
        var replaced = await PhysicalRestoreJob.RunAsync(repo, backup, Options(cluster.DataDirectory) with { Force = true }, OperationContext.None);
        Assert.Equal("1500", ArchivingCluster.PsqlAt(replaced.Port!.Value, "SELECT count(*) FROM fast_rows"));
        Assert.Equal(Location, ArchivingCluster.PsqlAt(replaced.Port!.Value, LocationQuery));
        string originalAside = Assert.Single(Directory.GetDirectories(_temp.Path, "fast-disk.pgbt-old-*"));
        Assert.Equal(original, Snapshot(originalAside));
        Assert.NotNull(replaced.MovedAsideTo);
    }

    [Fact]
    public async Task Test_PgBackup_restores_the_tablespace_beside_its_scratch_directory_passes_pg_verifybackup_and_writes_nothing_to_the_original()
    {
        using var cluster = await StartClusterWithTablespaceAsync();
        var backup = await ArchivingCluster.BackupAsync(RepoPath, cluster);
        cluster.Stop();
        var original = Snapshot(Location);

        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var test = await BackupTestJob.RunAsync(repo, backup, null, restore: true, ["SELECT count(*) FROM fast_rows", LocationQuery], OperationContext.None, WalTestSegments.EntryPoint);

        Assert.True(test.Passed, test.Error + string.Join("; ", test.Checks.Select(c => $"{c.Kind} {c.Name}: {c.Actual}")));
        var verify = Assert.Single(test.Checks, c => c.Kind == "VerifyBackup");
        Assert.Equal("verified", verify.Actual);
        Assert.Contains(test.Checks, c => c.Actual == "1000");
        // The scratch server's tablespace was beside its scratch directory (tablespace_map named it, not the original).
        Assert.StartsWith(test.ScratchDatabase + "-tablespaces/", Assert.Single(test.Checks, c => c.Name == LocationQuery).Actual);
        Assert.Equal(original, Snapshot(Location));
        // The scratch copies are gone with the scratch directory.
        Assert.NotNull(test.ScratchDatabase);
        Assert.False(Directory.Exists(test.ScratchDatabase));
        Assert.False(Directory.Exists(test.ScratchDatabase + "-tablespaces"));

        // A record that does not list the tablespace (an unencrypted repository trusts the piped object): the tar's
        // tablespace has no target, and the restore stops rather than write it to wherever it was.
        backup.Tablespaces = null;
        var stale = await BackupTestJob.RunAsync(repo, backup, null, restore: true, [], OperationContext.None, WalTestSegments.EntryPoint);
        Assert.False(stale.Passed);
        Assert.Contains("does not record", stale.Error);
        Assert.Equal(original, Snapshot(Location));
    }

    [Fact]
    public async Task The_BaseBackup_method_refuses_a_cluster_with_a_tablespace_before_anything_is_stored_and_says_to_use_FileCopy()
    {
        using var cluster = await StartClusterWithTablespaceAsync();
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalBackupJob.RunAsync(repo, ArchivingCluster.Connection(cluster),
            new PhysicalBackupOptions { Method = PhysicalBackupMethod.BaseBackup }, OperationContext.None));
        Assert.Equal(FailureKind.InvalidArgument, e.Kind);
        Assert.Contains("fast", e.Message);
        Assert.Contains("-Method FileCopy", e.Message);
        Assert.False(Directory.Exists(Path.Combine(RepoPath, "backups", "main")) && Directory.EnumerateFileSystemEntries(Path.Combine(RepoPath, "backups", "main")).Any());
        Assert.Empty(await repo.ListBackupsAsync(null, OperationContext.None));
    }

    [Fact]
    public async Task A_tablespace_created_while_the_files_are_copied_fails_the_backup_and_nothing_is_kept()
    {
        using var cluster = await StartClusterWithTablespaceAsync();
        string late = Path.Combine(_temp.Path, "late");
        Directory.CreateDirectory(late);
        PgTestCluster.GiveToServerUser(late);
        // Right before pg_backup_stop: after the scan, inside the backup's WAL range.
        var context = new OperationContext
        {
            Verbose = m => { if (m.StartsWith("pg_backup_stop", StringComparison.Ordinal)) cluster.Psql($"CREATE TABLESPACE late LOCATION '{late}'"); },
        };
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalBackupJob.RunAsync(repo, ArchivingCluster.Connection(cluster), new PhysicalBackupOptions(), context));
        Assert.Contains("late", e.Message);
        Assert.Contains("created while", e.Message);
        Assert.Empty(await repo.ListBackupsAsync(null, OperationContext.None));
    }

    [Fact]
    public async Task A_tablespace_created_while_pg_basebackup_streams_fails_the_backup_and_nothing_is_kept()
    {
        using var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        Directory.CreateDirectory(Location);
        PgTestCluster.GiveToServerUser(Location);
        // On the first progress report: pg_basebackup has started streaming and waits on the pipe meanwhile.
        bool created = false;
        var context = new OperationContext
        {
            Progress = new SynchronousProgress(_ =>
            {
                if (created) return;
                created = true;
                cluster.Psql($"CREATE TABLESPACE fast LOCATION '{Location}'");
            }),
        };
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalBackupJob.RunAsync(repo, ArchivingCluster.Connection(cluster), new PhysicalBackupOptions { Method = PhysicalBackupMethod.BaseBackup }, context));
        Assert.True(created);
        Assert.Contains("created while", e.Message);
        Assert.Empty(await repo.ListBackupsAsync(null, OperationContext.None));
    }

    private sealed class SynchronousProgress(Action<TransferProgress> report) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => report(value);
    }

    [Fact]
    public async Task A_corrupt_page_in_a_tablespace_fails_the_backup_naming_its_file_under_pg_tblspc()
    {
        using var cluster = await StartClusterWithTablespaceAsync();
        cluster.Psql("CREATE TABLE damaged TABLESPACE fast AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g; CHECKPOINT");
        string relative = cluster.Psql("SELECT pg_relation_filepath('damaged')");
        Assert.StartsWith("pg_tblspc/", relative);
        cluster.Stop();
        using (var stream = new FileStream(Path.Combine(cluster.DataDirectory, relative), FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = 2 * 8192 + 6000;
            int b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x40));
        }
        cluster.StartServer();

        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalBackupJob.RunAsync(repo, ArchivingCluster.Connection(cluster), new PhysicalBackupOptions(), OperationContext.None));
        Assert.Equal(FailureKind.InvalidData, e.Kind);
        Assert.Contains($"{relative} block 2", e.Message);
        Assert.Empty(await repo.ListBackupsAsync(null, OperationContext.None));
    }

    [Fact]
    public void The_tablespace_map_names_the_targets_and_a_tablespace_the_manifest_does_not_record_is_refused()
    {
        var backup = new PgBackup { Id = "b", Tablespaces = [new PgBackupTablespace { Oid = 16384, Name = "fast", Location = "/mnt/fast" }] };
        var targets = TablespaceTargets.Resolve(backup, "/srv/data", new Dictionary<string, string> { ["/mnt/fast/"] = "/srv/new\\fast" });
        Assert.Equal("16384 /srv/new\\\\fast\n", System.Text.Encoding.UTF8.GetString(targets.RewriteMap("16384 /mnt/fast\n"u8.ToArray())));
        Assert.Throws<PgBackupException>(() => targets.RewriteMap("16384 /mnt/fast\n16999 /mnt/other\n"u8.ToArray()));

        Assert.True(targets.TryMap("pg_tblspc/16384", out string root, out bool isRoot, out _));
        Assert.True(isRoot);
        Assert.Equal("/srv/new\\fast", root);
        Assert.True(targets.TryMap("pg_tblspc/16384/PG_15_202209061/5/16385", out string file, out isRoot, out _));
        Assert.False(isRoot);
        Assert.Equal("/srv/new\\fast/PG_15_202209061/5/16385", file);
        Assert.False(targets.TryMap("pg_tblspc", out _, out _, out _));
        Assert.Throws<PgBackupException>(() => targets.TryMap("pg_tblspc/16999/PG_15_202209061/5/1", out _, out _, out _));
        Assert.Throws<PgBackupException>(() => targets.TryMap("pg_tblspc/16384/../../etc/passwd", out _, out _, out _));

        // A root (Test-PgBackup's): every tablespace of the record into <root>/<oid>, and never with a mapping too.
        var rooted = TablespaceTargets.Resolve(backup, "/srv/data", null, "/tmp/scratch-tablespaces");
        Assert.Equal("/tmp/scratch-tablespaces/16384", Assert.Single(rooted.All).Target);
        Assert.Throws<ArgumentException>(() => TablespaceTargets.Resolve(backup, "/srv/data", new Dictionary<string, string> { ["/mnt/fast"] = "/x" }, "/tmp/r"));

        // Inside the data directory, or two tablespaces in one directory: refused.
        Assert.Throws<PgBackupException>(() => TablespaceTargets.Resolve(backup, "/srv/data", new Dictionary<string, string> { ["/mnt/fast"] = "/srv/data/ts" }));
        var two = new PgBackup { Id = "c", Tablespaces = [.. backup.Tablespaces, new PgBackupTablespace { Oid = 16400, Name = "slow", Location = "/mnt/slow" }] };
        Assert.Throws<PgBackupException>(() => TablespaceTargets.Resolve(two, "/srv/data", new Dictionary<string, string> { ["/mnt/fast"] = "/srv/ts", ["/mnt/slow"] = "/srv/ts/slow" }));
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>An archiving cluster with tablespace 'fast' in <see cref="Location"/> (owned by the server user) holding fast_rows (1,000 rows) and its index.</summary>
    private async Task<PgTestCluster> StartClusterWithTablespaceAsync()
    {
        Directory.CreateDirectory(Location);
        var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        cluster.Psql($"CREATE TABLESPACE fast LOCATION '{Location}'");
        cluster.Psql("CREATE TABLE fast_rows(id int PRIMARY KEY USING INDEX TABLESPACE fast, note text) TABLESPACE fast; INSERT INTO fast_rows SELECT g, 'before' FROM generate_series(1, 1000) g; CHECKPOINT");
        return cluster;
    }

    /// <summary>Every entry under a directory with its size and modification time.</summary>
    private static List<string> Snapshot(string directory) =>
        new DirectoryInfo(directory).EnumerateFileSystemInfos("*", SearchOption.AllDirectories)
            .Select(i => $"{Path.GetRelativePath(directory, i.FullName)} {(i is FileInfo f ? f.Length : -1)} {i.LastWriteTimeUtc:O}")
            .Order(StringComparer.Ordinal).ToList();

    private async Task SwitchAndArchiveAsync(PgTestCluster cluster)
    {
        string segment = cluster.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())");
        cluster.Psql("SELECT pg_switch_wal()");
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var archive = new WalArchive(repo, "main");
        for (var wait = Stopwatch.StartNew(); !await archive.ContainsAsync(segment, CancellationToken.None); await Task.Delay(200))
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(90), $"{segment} was not archived: {File.ReadAllText(cluster.LogFile)}");
    }

    private PhysicalRestoreOptions Options(string dir)
    {
        _started.Add(dir);
        return ArchivingCluster.StartedRestore(dir);
    }

    public void Dispose()
    {
        ArchivingCluster.StopRestored(_started);
        _temp.Dispose();
    }
}
