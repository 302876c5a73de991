using System.Text.Json;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Verify;

namespace PgBackupTools.Core.Tests.Backup;

[Collection("cluster")]
public sealed class LogicalBackupTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _repoDir = new();
    private readonly OperationContext _context = new();

    public void Dispose() => _repoDir.Dispose();

    private Task<BackupRepository> Repo() => BackupRepository.OpenAsync(_repoDir.Path, create: true, default);

    private async Task<PgBackup> BackupAsync(string db, DumpFormat format = DumpFormat.Plain, CompressionKind compression = CompressionKind.Gzip, int jobs = 1, PgConnectionInfo? server = null) =>
        await LogicalBackupJob.RunAsync(await Repo(), server ?? fixture.Connection(), new LogicalBackupOptions { Database = db, Format = format, Compression = compression, Jobs = jobs }, _context);

    private string StoredPath(PgBackup b, string file) => Path.Combine(_repoDir.Path, "backups", b.Stanza, b.Id, file);

    [Fact]
    public async Task Plain_gzip_backup_restored_by_hand_with_gunzip_and_psql_equals_the_source()
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db);

        Assert.Equal("database.sql.gz", backup.Files.Single().Name);
        Assert.Equal(2000, backup.TableRowCounts["public.audit_events"]);
        var file = StoredPath(backup, "database.sql.gz");
        fixture.Cluster.CreateDatabase(db + "_byhand");
        DatabaseFingerprint.Shell($"gunzip -c '{file}' | '{fixture.Cluster.BinDirectory}/psql' -X -q -v ON_ERROR_STOP=1 -h '{fixture.Cluster.SocketDirectory}' -p {fixture.Cluster.Port} -U postgres -d {db}_byhand >/dev/null");
        Assert.Equal(DatabaseFingerprint.Of(fixture.Cluster, db), DatabaseFingerprint.Of(fixture.Cluster, db + "_byhand"));
    }

    [Fact]
    public async Task Custom_backup_restored_by_stock_pg_restore_equals_the_source()
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db, DumpFormat.Custom);
        fixture.Cluster.CreateDatabase(db + "_byhand");
        DatabaseFingerprint.Run(Path.Combine(fixture.Cluster.BinDirectory, "pg_restore"), "--exit-on-error", "-j", "2", "-h", fixture.Cluster.SocketDirectory,
            "-p", fixture.Cluster.Port.ToString(), "-U", "postgres", "-d", db + "_byhand", StoredPath(backup, "database.dump"));
        Assert.Equal(DatabaseFingerprint.Of(fixture.Cluster, db), DatabaseFingerprint.Of(fixture.Cluster, db + "_byhand"));
    }

    [Theory]
    [InlineData(DumpFormat.Plain, CompressionKind.Zstd, 1)]
    [InlineData(DumpFormat.Plain, CompressionKind.None, 1)]
    [InlineData(DumpFormat.Custom, CompressionKind.Gzip, 2)]
    [InlineData(DumpFormat.Directory, CompressionKind.Gzip, 2)]
    public async Task Every_format_restores_through_the_core_to_an_equal_database(DumpFormat format, CompressionKind compression, int jobs)
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db, format, compression, format == DumpFormat.Directory ? jobs : 1);
        var target = db + "_restored";
        var result = await LogicalRestoreJob.RunAsync(await Repo(), backup, fixture.Connection(), new LogicalRestoreOptions { TargetDatabase = target, Jobs = jobs }, _context);
        Assert.Equal(target, result.TargetDatabase);
        Assert.Equal(DatabaseFingerprint.Of(fixture.Cluster, db), DatabaseFingerprint.Of(fixture.Cluster, target));
    }

    [Fact]
    public async Task A_weird_database_name_and_a_password_role_work_and_the_password_never_reaches_a_command_line()
    {
        const string db = "we\"ird; name";
        const string password = "s3cret-pw-9f2d";
        fixture.Cluster.Psql($"DROP DATABASE IF EXISTS \"we\"\"ird; name\"; DROP ROLE IF EXISTS backup_user; CREATE ROLE backup_user LOGIN PASSWORD '{password}'");
        fixture.Cluster.CreateDatabase(db);
        fixture.Cluster.Psql($"\\set rows 20000\n\\i {ClusterFixture.SampleSql}\nGRANT SELECT ON ALL TABLES IN SCHEMA public TO backup_user; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO backup_user;", db);
        // A table whose name needs quoting and whose values hold escaped newlines, "\." and a COPY-looking line:
        // the row counts are read from the dump's COPY blocks and must still be exact.
        fixture.Cluster.Psql("""
            CREATE TABLE "odd ""t""; name" (v text);
            INSERT INTO "odd ""t""; name" VALUES (E'line1\nline2\n\\.'), (E'\\.'), ('COPY x FROM stdin;');
            GRANT SELECT ON "odd ""t""; name" TO backup_user;
            """, db);
        var server = PgConnectionInfo.Resolve(host: fixture.Cluster.Host, port: fixture.Cluster.Port, username: "backup_user", password: password, environment: new Dictionary<string, string?>());

        using var watching = new CancellationTokenSource();
        var seen = new List<string>();
        var watcher = Task.Run(() =>
        {
            while (!watching.IsCancellationRequested)
                foreach (var proc in Directory.GetDirectories("/proc").Where(d => char.IsDigit(Path.GetFileName(d)[0])))
                {
                    try
                    {
                        var cmdline = File.ReadAllText(Path.Combine(proc, "cmdline")).Replace('\0', ' ');
                        if (cmdline.Contains("pg_dump")) lock (seen) seen.Add(cmdline);
                        Assert.DoesNotContain(password, cmdline);
                    }
                    catch (IOException) { }
                }
        });
        var backup = await BackupAsync(db, server: server);
        watching.Cancel();
        await watcher;

        Assert.NotEmpty(seen); // the watcher really saw pg_dump running
        Assert.Equal(db, backup.Database);
        Assert.Equal(3, backup.TableRowCounts["public.\"odd \"\"t\"\"; name\""]);
        Assert.DoesNotContain(password, await File.ReadAllTextAsync(StoredPath(backup, "manifest.json")));
        Assert.Empty(Directory.GetDirectories(Path.GetTempPath(), "pgbt-*").Where(d => File.Exists(Path.Combine(d, "pgpass"))));
        var test = await BackupTestJob.RunAsync(await Repo(), backup, fixture.Connection(), restore: true, [], _context);
        Assert.True(test.Passed, test.Error);
    }

    [Fact]
    public async Task A_flipped_byte_fails_the_test_and_the_restore_naming_the_file_and_leaves_no_target()
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db);
        var file = StoredPath(backup, "database.sql.gz");
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[bytes.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(file, bytes);

        var test = await BackupTestJob.RunAsync(await Repo(), backup, fixture.Connection(), restore: true, [], _context);
        Assert.False(test.Passed);
        Assert.False(test.Restored);
        Assert.Contains("database.sql.gz", test.Error);

        var e = await Assert.ThrowsAsync<ChecksumMismatchException>(() =>
            LogicalRestoreJob.RunAsync(fixture.Connection() is var c ? Repo().Result : null!, backup, c, new LogicalRestoreOptions { TargetDatabase = db + "_damaged" }, _context));
        Assert.Contains("database.sql.gz", e.Message);
        Assert.Equal("", fixture.Cluster.Psql($"SELECT datname FROM pg_database WHERE datname = '{db}_damaged' OR datname LIKE 'pgbt_%'"));
    }

    [Fact]
    public async Task A_test_restore_fails_when_row_counts_differ_from_the_manifest()
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db);
        backup.TableRowCounts["public.audit_events"] = 1999;
        var test = await BackupTestJob.RunAsync(await Repo(), backup, fixture.Connection(), restore: true, ["SELECT count(*) = 0 FROM checker_config"], _context);
        Assert.False(test.Passed);
        var failed = test.Checks.Where(c => !c.Passed).Select(c => (c.Kind, c.Name)).ToList();
        Assert.Equal([("RowCount", "public.audit_events"), ("Query", "SELECT count(*) = 0 FROM checker_config")], failed);
        Assert.Equal("", fixture.Cluster.Psql("SELECT datname FROM pg_database WHERE datname LIKE 'pgbt_%'"));
    }

    [Fact]
    public async Task Restore_refuses_an_existing_target_unless_replace_and_then_swaps_it()
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db);
        var target = fixture.CreateAuditDatabase(rows: 10);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => LogicalRestoreJob.RunAsync(Repo().Result, backup, fixture.Connection(), new LogicalRestoreOptions { TargetDatabase = target }, _context));
        Assert.Equal(FailureKind.AlreadyExists, e.Kind);
        Assert.Equal("10", fixture.Cluster.Psql("SELECT count(*) FROM audit_events", target));

        var result = await LogicalRestoreJob.RunAsync(await Repo(), backup, fixture.Connection(), new LogicalRestoreOptions { TargetDatabase = target, Replace = true }, _context);
        Assert.True(result.Replaced);
        Assert.Equal("2000", fixture.Cluster.Psql("SELECT count(*) FROM audit_events", target));
        Assert.Equal("", fixture.Cluster.Psql("SELECT datname FROM pg_database WHERE datname LIKE 'pgbt_%'"));
    }

    [Fact]
    public async Task Bad_input_gets_a_clear_error_and_writes_nothing()
    {
        var repo = await Repo();
        var unknown = await Assert.ThrowsAsync<PgBackupException>(() => BackupAsync("no_such_db"));
        Assert.Equal(FailureKind.NotFound, unknown.Kind);
        Assert.Contains("no_such_db", unknown.Message);

        var down = PgConnectionInfo.Resolve(host: "127.0.0.1", port: PgBackupTools.TestKit.PgTestCluster.FindFreePort(), username: "postgres", environment: new Dictionary<string, string?>());
        var unreachable = await Assert.ThrowsAsync<PgBackupException>(() => BackupAsync("postgres", server: down));
        Assert.Equal(FailureKind.ConnectionFailed, unreachable.Kind);

        using var emptyBin = new TempDirectory();
        Environment.SetEnvironmentVariable(PgClientTools.OverrideVariable, emptyBin.Path);
        try
        {
            var missing = await Assert.ThrowsAsync<PgBackupException>(() => BackupAsync("postgres"));
            Assert.Equal(FailureKind.NotInstalled, missing.Kind);
            Assert.Contains("pg_dump", missing.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(PgClientTools.OverrideVariable, null);
        }

        var fileRepo = Path.Combine(_repoDir.Path, "a-file");
        await File.WriteAllTextAsync(fileRepo, "x");
        var isFile = await Assert.ThrowsAsync<PgBackupException>(() => BackupRepository.OpenAsync(fileRepo, create: true, default));
        Assert.Contains("is a file", isFile.Message);

        var traversal = await Assert.ThrowsAsync<PgBackupException>(() => repo.GetBackupAsync("main", "../../etc", default));
        Assert.Equal(FailureKind.InvalidArgument, traversal.Kind);

        Assert.Empty(await repo.ListBackupsAsync(null, _context));
        Assert.False(Directory.Exists(Path.Combine(_repoDir.Path, "backups")) && Directory.EnumerateFiles(Path.Combine(_repoDir.Path, "backups"), "*", SearchOption.AllDirectories).Any());
    }

    [Fact]
    public async Task A_cancelled_backup_leaves_nothing_listed_and_the_next_one_succeeds()
    {
        var db = fixture.CreateAuditDatabase(rows: 100_000);
        using var cts = new CancellationTokenSource();
        var context = new OperationContext
        {
            CancellationToken = cts.Token,
            Progress = new SyncProgress(p => { if (p.Bytes > 1_000_000) cts.Cancel(); }),
        };
        var repo = await Repo();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db }, context));
        Assert.Empty(await repo.ListBackupsAsync(null, _context));
        var backup = await BackupAsync(db);
        Assert.Single(await repo.ListBackupsAsync(null, _context));
        Assert.Equal(100_000, backup.TableRowCounts["public.audit_events"]);
    }

    [Fact]
    public async Task Two_backups_of_one_database_at_once_into_one_repository_both_commit_whole_under_their_own_ids()
    {
        var db = fixture.CreateAuditDatabase(rows: 20_000);
        var formats = new[] { DumpFormat.Custom, DumpFormat.Custom, DumpFormat.Plain, DumpFormat.Directory };
        var backups = await Task.WhenAll(formats.Select(f => Task.Run(() => BackupAsync(db, f, jobs: f == DumpFormat.Directory ? 2 : 1))));

        Assert.Equal(backups.Length, backups.Select(b => b.Id).Distinct().Count());
        var listed = await (await Repo()).ListBackupsAsync(null, _context);
        Assert.Equal(backups.Select(b => b.Id).Order(StringComparer.Ordinal), listed.Select(b => b.Id).Order(StringComparer.Ordinal));
        foreach (var backup in listed)
        {
            Assert.Equal(20_000, backup.TableRowCounts["public.audit_events"]);
            var test = await BackupTestJob.RunAsync(await Repo(), backup, fixture.Connection(), restore: false, [], _context);
            Assert.True(test.Passed, test.Error);
        }
    }

    [Fact]
    public async Task The_manifest_is_the_commit_point_and_records_what_an_audit_needs()
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db, compression: CompressionKind.Zstd);
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(StoredPath(backup, "manifest.json")));
        var m = doc.RootElement;
        Assert.Equal(backup.Id, m.GetProperty("id").GetString());
        Assert.Equal("Logical", m.GetProperty("type").GetString());
        Assert.Equal("Zstd", m.GetProperty("compression").GetString());
        Assert.False(string.IsNullOrEmpty(m.GetProperty("systemIdentifier").GetString()));
        var f = m.GetProperty("files")[0];
        Assert.Equal(64, f.GetProperty("storedSha256").GetString()!.Length);
        Assert.Equal(new FileInfo(StoredPath(backup, "database.sql.zst")).Length, f.GetProperty("storedBytes").GetInt64());
        // The stored bytes decode to exactly the recorded raw size with the standard tool.
        var raw = DatabaseFingerprint.Run("zstd", "-d", "-c", StoredPath(backup, "database.sql.zst"));
        Assert.Equal(f.GetProperty("bytes").GetInt64(), System.Text.Encoding.UTF8.GetByteCount(raw));
    }

    private sealed class SyncProgress(Action<TransferProgress> onReport) : IProgress<TransferProgress>
    {
        public void Report(TransferProgress value) => onReport(value);
    }
}
