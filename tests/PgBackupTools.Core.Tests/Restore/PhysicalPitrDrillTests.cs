using System.Diagnostics;
using System.Globalization;
using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// The PITR drill: a cluster archiving through pgbt-wal, a physical backup taken while a writer commits, then a
/// restore to a time, an LSN and a restore point, each started as a real server, holding exactly the rows committed
/// up to its target.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class PhysicalPitrDrillTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    [Theory]
    [InlineData(PhysicalBackupMethod.FileCopy)]
    [InlineData(PhysicalBackupMethod.BaseBackup)]
    public async Task Physical_backup_then_restores_to_a_time_an_LSN_and_a_restore_point_hold_exactly_the_rows_committed_up_to_each_target(PhysicalBackupMethod method)
    {
        string repoPath = Path.Combine(_temp.Path, "repo");
        using (await BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None)) { }
        PgTestCluster.GiveToServerUser(_temp.Path);
        string command = WalCommands.ArchiveCommand(WalTestSegments.EntryPoint, repoPath, "main");
        // track_commit_timestamp: the commit time of each row exactly as its commit record carries it, which is what recovery_target_time compares.
        using var cluster = PgTestCluster.Start($"archive_mode = on\narchive_command = {ConfigurationFileSyntax.Quote(command)}\ntrack_commit_timestamp = on\n");
        cluster.Psql("CREATE TABLE drill(id int PRIMARY KEY, written timestamptz NOT NULL DEFAULT clock_timestamp())");
        var server = PgConnectionInfo.Resolve(host: cluster.Host, port: cluster.Port, username: "postgres", database: "postgres", environment: new Dictionary<string, string?>());

        // A writer commits numbered rows, one transaction each, while the base backup runs.
        int next = 0;
        using var stopWriter = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            await using var conn = new NpgsqlConnection(cluster.ConnectionString());
            await conn.OpenAsync();
            while (!stopWriter.IsCancellationRequested)
            {
                await using var cmd = new NpgsqlCommand($"INSERT INTO drill(id) VALUES ({Interlocked.Increment(ref next)})", conn);
                await cmd.ExecuteNonQueryAsync();
            }
        });
        PgBackup backup;
        var sw = Stopwatch.StartNew();
        using (var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None))
            backup = await PhysicalBackupJob.RunAsync(repo, server, new PhysicalBackupOptions { Method = method }, OperationContext.None);
        var backupSeconds = sw.Elapsed.TotalSeconds;
        stopWriter.Cancel();
        await writer;
        Assert.Equal(BackupType.Physical, backup.Type);
        Assert.Equal(method, backup.Method);
        Assert.Equal("base.tar.zst", Assert.Single(backup.Files).Name);
        Assert.Equal(1u, backup.Timeline);
        Assert.True(Lsn.Parse(backup.StopLsn!) > Lsn.Parse(backup.StartLsn!));
        Assert.Equal(cluster.Psql("SELECT system_identifier FROM pg_control_system()"), backup.SystemIdentifier);
        Assert.True(File.Exists(Path.Combine(repoPath, "backups", "main", backup.Id, "manifest.json")));
        int duringBackup = int.Parse(cluster.Psql("SELECT count(*) FROM drill"));
        Assert.True(duringBackup > 0);

        // After the backup: rows, a time target, rows, an LSN target, rows, a restore point, rows.
        int id = duringBackup;
        void Rows(int count) { for (int i = 0; i < count; i++) cluster.Psql($"INSERT INTO drill(id) VALUES ({++id})"); }
        Rows(5);
        string targetTimeText = cluster.Psql($"SET TimeZone = 'UTC'; SELECT pg_xact_commit_timestamp(xmin) FROM drill WHERE id = {id}");
        var targetTime = DateTimeOffset.Parse(targetTimeText, CultureInfo.InvariantCulture);
        Rows(5);
        string targetLsn = cluster.Psql("SELECT pg_current_wal_lsn()");
        int rowsAtLsn = id;
        Rows(5);
        cluster.Psql("SELECT pg_create_restore_point('drill-point')");
        int rowsAtPoint = id;
        Rows(5);
        string last = cluster.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())");
        cluster.Psql("SELECT pg_switch_wal()");
        var archive = await WalArchive.OpenAsync(repoPath, "main", CancellationToken.None);
        for (var wait = Stopwatch.StartNew(); !await archive.ContainsAsync(last, CancellationToken.None); await Task.Delay(200))
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(60), $"{last} was not archived: {File.ReadAllText(cluster.LogFile)}");
        // Expected rows per target, from the source itself: for the time target, every row whose commit time is at or before it.
        var byTime = cluster.Psql($"SET TimeZone = 'UTC'; SELECT string_agg(id::text, ',' ORDER BY id) FROM drill WHERE pg_xact_commit_timestamp(xmin) <= '{targetTimeText}'");

        var timings = new List<string> { $"backup {backupSeconds:F1}s" };
        async Task<string> RestoreAndRead(string name, PhysicalRestoreOptions options)
        {
            var t = Stopwatch.StartNew();
            using var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None);
            var result = await PhysicalRestoreJob.RunAsync(repo, backup, options, OperationContext.None);
            try
            {
                Assert.Equal("promoted", result.RecoveryState);
                Assert.Equal(2u, result.Timeline);
                await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={options.Port};Username=postgres;Database=postgres;Pooling=false");
                await conn.OpenAsync();
                await using var cmd = new NpgsqlCommand("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM drill", conn);
                var rows = (string)(await cmd.ExecuteScalarAsync())!;
                timings.Add($"{name} {t.Elapsed.TotalSeconds:F1}s");
                return rows;
            }
            finally
            {
                PgTestCluster.RunAsServerUser(Path.Combine(PgTestCluster.FindBinDirectory(), "pg_ctl"), "-D", options.DataDirectory, "-m", "immediate", "-w", "stop");
            }
        }
        PhysicalRestoreOptions Options(string dir) => new()
        {
            DataDirectory = Path.Combine(_temp.Path, dir), WalEntryPoint = WalTestSegments.EntryPoint, Start = true, Port = PgTestCluster.FindFreePort(),
            // The drill's servers promote to timeline 2 each; they must not archive into the source's stanza.
            Settings = new Dictionary<string, string> { ["archive_mode"] = "off" },
        };

        Assert.Equal(byTime, await RestoreAndRead("time", Options("pitr-time") with { TargetTime = targetTime }));
        Assert.Equal(Range(rowsAtLsn), await RestoreAndRead("lsn", Options("pitr-lsn") with { TargetLsn = targetLsn }));
        Assert.Equal(Range(rowsAtPoint), await RestoreAndRead("name", Options("pitr-name") with { TargetName = "drill-point" }));
        Assert.Equal(Range(id), await RestoreAndRead("latest", Options("pitr-latest")));
        Assert.Contains($"{duringBackup - 1}", byTime); // the rows committed during the backup come back too
        Console.WriteLine("PITR drill timings: " + string.Join(", ", timings));
    }

    [Fact]
    public async Task A_restore_onto_a_non_empty_directory_without_Force_touches_nothing_and_with_Force_nothing_is_moved_for_a_backup_that_cannot_be_recovered()
    {
        string repoPath = Path.Combine(_temp.Path, "repo");
        using var repo = await BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None);
        var backup = new PgBackup { Id = RepositoryNames.NewBackupId(DateTimeOffset.UtcNow), Type = BackupType.Physical, Stanza = "main", Files = [new PgBackupFile { Name = "base.tar.zst" }] };
        string dir = Path.Combine(_temp.Path, "data");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "PG_VERSION"), "15\n");
        var options = new PhysicalRestoreOptions { DataDirectory = dir, WalEntryPoint = WalTestSegments.EntryPoint };
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, options, OperationContext.None));
        Assert.Contains("not empty", e.Message);
        Assert.Equal(["PG_VERSION"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName));
        Assert.Equal("15\n", File.ReadAllText(Path.Combine(dir, "PG_VERSION")));
        Assert.Single(Directory.EnumerateDirectories(_temp.Path, "data*"));

        // With -Force the old content would be renamed (never deleted; PhysicalBackup.Tests.ps1 proves it), but only once
        // the backup is known to be recoverable: this one has no WAL range, so the directory stays as it is.
        var refused = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, options with { Force = true }, OperationContext.None));
        Assert.Contains("no WAL range", refused.Message);
        Assert.Empty(Directory.EnumerateDirectories(_temp.Path, "data.pgbt-old-*"));
        Assert.Equal("15\n", File.ReadAllText(Path.Combine(dir, "PG_VERSION")));
    }

    private static string Range(int last) => string.Join(',', Enumerable.Range(1, last));

    public void Dispose() => _temp.Dispose();
}
