using System.Diagnostics;
using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Snapshots;

/// <summary>
/// The consistency wrapper against a real cluster: the fake EC2 endpoint "snapshots" volume vol-data by copying the
/// live data directory at CreateSnapshot, while a writer commits. The recorded backup_label and the archived WAL
/// (pgbt-wal) must make that copy recover every committed row.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SnapshotBackupClusterTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly FakeEc2Endpoint _ec2 = new();

    private (PgTestCluster Cluster, string Repo, PgConnectionInfo Server) StartArchivingCluster()
    {
        string repoPath = Path.Combine(_temp.Path, "repo");
        using (BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None).GetAwaiter().GetResult()) { }
        PgTestCluster.GiveToServerUser(_temp.Path);
        string command = WalCommands.ArchiveCommand(WalTestSegments.EntryPoint, repoPath, "main");
        var cluster = PgTestCluster.Start($"archive_mode = on\narchive_command = {ConfigurationFileSyntax.Quote(command)}\n");
        var server = PgConnectionInfo.Resolve(host: cluster.Host, port: cluster.Port, username: "postgres", database: "postgres", environment: new Dictionary<string, string?>());
        return (cluster, repoPath, server);
    }

    private static SnapshotTarget Timing => new() { Provider = SnapshotProvider.Aws, MaxPollInterval = TimeSpan.FromMilliseconds(100) };

    [Fact]
    public async Task A_snapshot_backup_of_a_live_cluster_recovers_every_committed_row_from_the_copy_and_the_recorded_label()
    {
        var (cluster, repoPath, server) = StartArchivingCluster();
        using var _ = cluster;
        cluster.Psql("CREATE TABLE drill(id int PRIMARY KEY)");
        string snapshots = Path.Combine(_temp.Path, "snapshots");
        var backupRunning = new List<string>();
        _ec2.OnCreateSnapshot = (volume, id) =>
        {
            // The point in time: the backup must be in progress on the server when the volume is captured.
            backupRunning.Add(cluster.Psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_backup_start%' AND pid <> pg_backend_pid()"));
            if (volume == "vol-data") LiveDirectoryCopy.Copy(cluster.DataDirectory, Path.Combine(snapshots, id));
        };
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
        await Task.Delay(300);
        var log = new List<string>();
        PgBackup backup;
        var sw = Stopwatch.StartNew();
        using (var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None))
        using (var provider = AwsEbsSnapshotProviderTests.Provider(_ec2))
        {
            backup = await SnapshotBackupJob.RunAsync(repo, server, provider, Timing, ["vol-data", "vol-wal"],
                new SnapshotBackupOptions { Tags = new Dictionary<string, string> { ["env"] = "test" } }, new OperationContext { Verbose = log.Add, Warning = log.Add });
        }
        double backupSeconds = sw.Elapsed.TotalSeconds;
        stopWriter.Cancel();
        await writer;

        Assert.Equal(["1", "1"], backupRunning);
        Assert.Equal(BackupType.Snapshot, backup.Type);
        Assert.Equal(SnapshotProvider.Aws, backup.SnapshotProvider);
        Assert.Equal(1u, backup.Timeline);
        Assert.Contains($"LABEL: pgbt {backup.Id}", backup.BackupLabelFile);
        Assert.Contains($"START WAL LOCATION: {backup.StartLsn}", backup.BackupLabelFile);
        Assert.True(Lsn.Parse(backup.StopLsn!) >= Lsn.Parse(backup.StartLsn!));
        Assert.Equal(cluster.Psql("SELECT system_identifier FROM pg_control_system()"), backup.SystemIdentifier);
        Assert.Equal(["vol-data", "vol-wal"], backup.Snapshots!.Select(s => s.VolumeId));
        Assert.Equal(_ec2.Snapshots.OrderBy(s => s.VolumeId).Select(s => s.Id), backup.Snapshots!.Select(s => s.SnapshotId));
        Assert.All(backup.Snapshots!, s => Assert.True(s.Completed));
        Assert.All(_ec2.Snapshots, s => Assert.Equal(backup.Id, s.Tags["pgbt-backup-id"]));
        Assert.All(_ec2.Snapshots, s => Assert.Equal(backup.SystemIdentifier, s.Tags["pgbt-cluster"]));
        Assert.All(_ec2.Snapshots, s => Assert.Equal("test", s.Tags["env"]));
        string manifest = File.ReadAllText(Path.Combine(repoPath, "backups", "main", backup.Id, "manifest.json"));
        Assert.Contains(backup.Snapshots![0].SnapshotId, manifest);
        Assert.DoesNotContain(AwsEbsSnapshotProviderTests.TestSecret, manifest);
        Assert.DoesNotContain(log, l => l.Contains(AwsEbsSnapshotProviderTests.TestSecret, StringComparison.Ordinal) || l.Contains("AKIDPGBTTEST", StringComparison.Ordinal));
        using (var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None))
            Assert.Equal(backup.Id, Assert.Single(await repo.ListBackupsAsync("main", OperationContext.None), b => b.Type == BackupType.Snapshot).Id);

        // Rows after the backup come back too (replayed from the archive through pgbt-wal), up to the last archived segment.
        for (int i = 0; i < 5; i++) cluster.Psql($"INSERT INTO drill(id) VALUES ({Interlocked.Increment(ref next)})");
        int expected = int.Parse(cluster.Psql("SELECT count(*) FROM drill"));
        string last = cluster.Psql("SELECT pg_walfile_name(pg_current_wal_lsn())");
        cluster.Psql("SELECT pg_switch_wal()");
        var archive = await WalArchive.OpenAsync(repoPath, "main", CancellationToken.None);
        for (var wait = Stopwatch.StartNew(); !await archive.ContainsAsync(last, CancellationToken.None); await Task.Delay(200))
            Assert.True(wait.Elapsed < TimeSpan.FromSeconds(60), $"{last} was not archived");

        // "Restore the volume and mount it": a copy of the snapshot's directory.
        string dataDir = Path.Combine(_temp.Path, "restored");
        LiveDirectoryCopy.Copy(Path.Combine(snapshots, backup.Snapshots![0].SnapshotId), dataDir);
        var options = new PhysicalRestoreOptions
        {
            DataDirectory = dataDir, WalEntryPoint = WalTestSegments.EntryPoint, Start = true, Port = PgTestCluster.FindFreePort(),
            Settings = new Dictionary<string, string> { ["archive_mode"] = "off" },
        };
        sw.Restart();
        PgRestoreResult result;
        using (var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None))
            result = await SnapshotRestoreJob.RunAsync(repo, backup, options, OperationContext.None);
        try
        {
            Assert.Equal("promoted", result.RecoveryState);
            Assert.Equal(BackupType.Snapshot, result.Type);
            Assert.Contains($"LABEL: pgbt {backup.Id}", File.ReadAllText(Path.Combine(dataDir, "backup_label.old")));
            await using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={options.Port};Username=postgres;Database=postgres;Pooling=false");
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*), min(id), max(id) FROM drill", conn);
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            Assert.Equal(expected, r.GetInt64(0));
            Assert.Equal(1, r.GetInt32(1));
            Assert.Equal(expected, r.GetInt32(2));
        }
        finally
        {
            PgTestCluster.RunAsServerUser(Path.Combine(PgTestCluster.FindBinDirectory(), "pg_ctl"), "-D", dataDir, "-m", "immediate", "-w", "stop");
        }
        Console.WriteLine($"Snapshot backup {backupSeconds:F1}s (2 volumes), snapshot restore+recovery {sw.Elapsed.TotalSeconds:F1}s, {expected} rows");

        // A segment the backup needs, gone from the archive: the restore is refused before the directory is touched.
        string startSegment = cluster.Psql($"SELECT pg_walfile_name('{backup.StartLsn}')");
        string stored = Directory.EnumerateFiles(Path.Combine(repoPath, "wal", "main"), startSegment + "*", SearchOption.AllDirectories)
            .Single(f => !Path.GetFileName(f).Contains(".backup", StringComparison.Ordinal)); // not the backup history file
        File.Move(stored, stored + ".hidden");
        string again = Path.Combine(_temp.Path, "restored-again");
        LiveDirectoryCopy.Copy(Path.Combine(snapshots, backup.Snapshots![0].SnapshotId), again);
        using (var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None))
        {
            var gap = await Assert.ThrowsAsync<WalGapException>(() => SnapshotRestoreJob.RunAsync(repo, backup, options with { DataDirectory = again }, OperationContext.None));
            Assert.Contains(startSegment, gap.Message);
        }
        Assert.False(File.Exists(Path.Combine(again, "backup_label")));
        Assert.False(File.Exists(Path.Combine(again, "recovery.signal")));
    }

    [Fact]
    public async Task A_snapshot_failure_mid_set_still_stops_the_backup_deletes_the_set_and_writes_no_manifest()
    {
        var (cluster, repoPath, server) = StartArchivingCluster();
        using var _ = cluster;
        _ec2.FailingVolumes.Add("vol-b");
        using var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None);
        using var provider = AwsEbsSnapshotProviderTests.Provider(_ec2);
        var e = await Assert.ThrowsAsync<PgBackupException>(() =>
            SnapshotBackupJob.RunAsync(repo, server, provider, Timing, ["vol-a", "vol-b", "vol-c"], new SnapshotBackupOptions(), OperationContext.None));

        Assert.Contains("vol-b", e.Message);
        Assert.Equal("vol-b", e.Target);
        Assert.Equal(["vol-a", "vol-b"], _ec2.Calls("CreateSnapshot").Select(r => r.Parameters["VolumeId"]));
        Assert.Single(_ec2.Calls("DeleteSnapshot"));
        Assert.Empty(_ec2.Snapshots);
        Assert.Empty(await repo.ListBackupsAsync(null, OperationContext.None));
        Assert.False(Directory.Exists(Path.Combine(repoPath, "backups")) && Directory.EnumerateFiles(Path.Combine(repoPath, "backups"), "manifest.json", SearchOption.AllDirectories).Any());
        // pg_backup_stop ran: it writes the backup history file with the label and a stop point...
        var history = Directory.EnumerateFiles(Path.Combine(cluster.DataDirectory, "pg_wal"), "*.backup").Select(File.ReadAllText).ToList();
        Assert.Contains(history, h => h.Contains("LABEL: pgbt ", StringComparison.Ordinal) && h.Contains("STOP WAL LOCATION", StringComparison.Ordinal));
        // ...and no session is left holding a backup open.
        Assert.Equal("0", cluster.Psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_backup_start%' AND pid <> pg_backend_pid()"));
    }

    public void Dispose()
    {
        _ec2.Dispose();
        _temp.Dispose();
    }
}
