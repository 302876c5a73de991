using System.Diagnostics;
using System.Formats.Tar;
using System.Text;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Tests.Restore;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Backup;

/// <summary>
/// The file-copy physical backup: BASE_BACKUP's rules for what to copy, the tar it writes, the page checksums it
/// verifies, and against real clusters: a copy that pg_verifybackup accepts and that recovers, a corrupt page that
/// fails the backup, the fallback to pg_basebackup where the files cannot be read.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class FileCopyBackupTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private string RepoPath => Path.Combine(_temp.Path, "repo");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void The_scanner_follows_BASE_BACKUP_rules_and_puts_pg_control_last()
    {
        string data = Path.Combine(_temp.Path, "data");
        void Touch(string path) { Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(data, path))!); File.WriteAllText(Path.Combine(data, path), "x"); }
        foreach (var f in new[]
        {
            "PG_VERSION", "postgresql.conf", "postmaster.pid", "postmaster.opts", "backup_label", "tablespace_map", "backup_manifest",
            "postgresql.auto.conf.tmp", "current_logfiles.tmp", ".s.PGSQL.5432.lock", "global/pg_control", "global/1262", "global/pg_internal.init",
            "base/5/1259", "base/5/1259_fsm", "base/5/1259.1", "base/5/16400", "base/5/16400_fsm", "base/5/16400_init", "base/5/t3_16500",
            "base/5/pgsql_tmp/pgsql_tmp123.0", "base/5/pg_internal.init", "base/5/PG_VERSION",
            "pg_wal/000000010000000000000001", "pg_wal/archive_status/000000010000000000000001.done",
            "pg_stat_tmp/global.stat", "pg_replslot/slot/state", "pg_subtrans/0000", "pg_xact/0000", "pg_notify/0000",
        }) Touch(f);
        Directory.CreateDirectory(Path.Combine(data, "pg_tblspc"));

        var entries = DataDirectoryScanner.Scan(data);
        var paths = entries.Select(e => e.Path + (e.IsDirectory ? "/" : "")).ToList();

        Assert.Equal("global/pg_control", paths[^1]);
        Assert.Single(paths, p => p == "global/pg_control");
        foreach (var kept in new[] { "PG_VERSION", "postgresql.conf", "global/1262", "base/5/1259", "base/5/1259_fsm", "base/5/1259.1", "base/5/16400_init", "base/5/PG_VERSION",
                     "pg_wal/", "pg_wal/archive_status/", "pg_stat_tmp/", "pg_replslot/", "pg_subtrans/", "pg_notify/", "pg_xact/0000", "pg_tblspc/", "base/", "base/5/" })
            Assert.Contains(kept, paths);
        foreach (var left in new[] { "postmaster.pid", "postmaster.opts", "backup_label", "tablespace_map", "backup_manifest", "postgresql.auto.conf.tmp",
                     "current_logfiles.tmp", ".s.PGSQL.5432.lock", "global/pg_internal.init", "base/5/pg_internal.init", "base/5/16400", "base/5/16400_fsm",
                     "base/5/t3_16500", "base/5/pgsql_tmp/", "base/5/pgsql_tmp/pgsql_tmp123.0", "pg_wal/000000010000000000000001",
                     "pg_wal/archive_status/000000010000000000000001.done", "pg_stat_tmp/global.stat", "pg_replslot/slot/", "pg_replslot/slot/state", "pg_subtrans/0000", "pg_notify/0000" })
            Assert.DoesNotContain(left, paths);
        Assert.Equal(1, entries.Single(e => e.Path == "PG_VERSION").Size); // the total for Write-Progress
        // A directory comes before what is in it.
        Assert.True(paths.IndexOf("base/5/") < paths.IndexOf("base/5/1259"));
    }

    [Fact]
    public void The_scanner_refuses_a_symbolic_link_and_a_directory_without_pg_control()
    {
        string data = Path.Combine(_temp.Path, "data");
        Directory.CreateDirectory(Path.Combine(data, "global"));
        Assert.Equal(FailureKind.InvalidArgument, Assert.Throws<PgBackupException>(() => DataDirectoryScanner.Scan(data)).Kind);

        File.WriteAllText(Path.Combine(data, "global", "pg_control"), "x");
        File.CreateSymbolicLink(Path.Combine(data, "log"), _temp.Path);
        var e = Assert.Throws<PgBackupException>(() => DataDirectoryScanner.Scan(data));
        Assert.Contains("'log'", e.Message);
    }

    [Fact]
    public void The_scanner_follows_a_tablespace_link_into_its_version_directory_and_refuses_a_link_of_no_tablespace()
    {
        string data = Path.Combine(_temp.Path, "data"), location = Path.Combine(_temp.Path, "ts");
        foreach (var f in new[] { "global/pg_control", "pg_tblspc/.keep" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(data, f))!);
            File.WriteAllText(Path.Combine(data, f), "x");
        }
        foreach (var f in new[] { "PG_15_202209061/5/16400", "PG_15_202209061/5/16400_init", "PG_15_202209061/5/16401", "PG_15_202209061/5/t3_16500",
                     "PG_15_202209061/pgsql_tmp/pgsql_tmp1.0", "PG_14_202107181/5/16400", "stray" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(location, f))!);
            File.WriteAllText(Path.Combine(location, f), "x");
        }
        File.CreateSymbolicLink(Path.Combine(data, "pg_tblspc", "16384"), location);

        var paths = DataDirectoryScanner.Scan(data, new TablespaceScan(new HashSet<uint> { 16384 }, TablespaceScan.VersionDirectoryPrefixOf(150004)))
            .Select(e => e.Path + (e.IsDirectory ? "/" : "")).ToList();
        foreach (var kept in new[] { "pg_tblspc/16384/", "pg_tblspc/16384/PG_15_202209061/", "pg_tblspc/16384/PG_15_202209061/5/", "pg_tblspc/16384/PG_15_202209061/5/16400_init", "pg_tblspc/16384/PG_15_202209061/5/16401" })
            Assert.Contains(kept, paths);
        // Unlogged main fork, temp relation, temp files, another version's directory, files beside the version directory: as BASE_BACKUP.
        foreach (var left in new[] { "pg_tblspc/16384/PG_15_202209061/5/16400", "pg_tblspc/16384/PG_15_202209061/5/t3_16500", "pg_tblspc/16384/PG_15_202209061/pgsql_tmp/",
                     "pg_tblspc/16384/PG_14_202107181/", "pg_tblspc/16384/stray" })
            Assert.DoesNotContain(left, paths);

        // A link in pg_tblspc that is not one of the server's tablespaces, or a scan that follows none: refused.
        Assert.Contains("16384", Assert.Throws<PgBackupException>(() => DataDirectoryScanner.Scan(data, new TablespaceScan(new HashSet<uint> { 99 }, "PG_15_"))).Message);
        Assert.Throws<PgBackupException>(() => DataDirectoryScanner.Scan(data));
    }

    [Fact]
    public void The_copy_writes_a_tar_that_tar_reads_with_a_manifest_whose_checksum_and_file_hashes_hold_and_leaves_out_a_file_removed_meanwhile()
    {
        string data = Path.Combine(_temp.Path, "data");
        Directory.CreateDirectory(Path.Combine(data, "global"));
        File.WriteAllText(Path.Combine(data, "global", "pg_control"), "control");
        File.WriteAllText(Path.Combine(data, "PG_VERSION"), "15\n");
        string deep = string.Join('/', Enumerable.Range(0, 12).Select(i => "directory-with-a-long-name-" + i));
        Directory.CreateDirectory(Path.Combine(data, deep));
        var big = new byte[3 << 20];
        new Random(7).NextBytes(big);
        File.WriteAllBytes(Path.Combine(data, deep, "file"), big);
        File.WriteAllText(Path.Combine(data, "gone"), "removed before it is read");
        var entries = DataDirectoryScanner.Scan(data);
        File.Delete(Path.Combine(data, "gone"));

        string tarPath = Path.Combine(_temp.Path, "base.tar");
        int copied, vanished;
        using (var tar = File.Create(tarPath))
        {
            var copy = new DataDirectoryCopy(data, tar, new ProgressMeter(OperationContext.None, "test", null), OperationContext.None, null);
            copy.CopyFiles(entries, CancellationToken.None);
            copy.AddFile("backup_label", "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n");
            copy.Finish(1, "0/2000028", "0/2000100");
            (copied, vanished) = (copy.FilesCopied, copy.FilesVanished);
        }
        Assert.Equal((3, 1), (copied, vanished));

        // GNU tar reads it (the 300-character path through a pax record).
        var list = Run("tar", "-tf", tarPath);
        Assert.Contains(deep + "/file", list);
        Assert.DoesNotContain("gone", list);
        string extracted = Path.Combine(_temp.Path, "extracted");
        Directory.CreateDirectory(extracted);
        Run("tar", "-xf", tarPath, "-C", extracted);
        Assert.Equal(big, File.ReadAllBytes(Path.Combine(extracted, deep, "file")));

        // The manifest: every file with its SHA-256, the WAL range, and PostgreSQL's manifest checksum over the rest.
        byte[] manifest = File.ReadAllBytes(Path.Combine(extracted, "backup_manifest"));
        string text = Encoding.UTF8.GetString(manifest);
        int checksumLine = text.LastIndexOf("\"Manifest-Checksum\"", StringComparison.Ordinal);
        string expected = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(manifest.AsSpan(0, checksumLine))).ToLowerInvariant();
        Assert.EndsWith($"\"Manifest-Checksum\": \"{expected}\"}}\n", text);
        using var json = System.Text.Json.JsonDocument.Parse(manifest);
        var files = json.RootElement.GetProperty("Files").EnumerateArray().ToDictionary(f => f.GetProperty("Path").GetString()!);
        Assert.Equal(new[] { "PG_VERSION", deep + "/file", "global/pg_control", "backup_label" }.Order(), files.Keys.Order());
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(big)).ToLowerInvariant(), files[deep + "/file"].GetProperty("Checksum").GetString());
        Assert.Equal("0/2000100", json.RootElement.GetProperty("WAL-Ranges")[0].GetProperty("End-LSN").GetString());
    }

    [Fact]
    public async Task Page_checksums_computed_here_match_the_ones_PostgreSQL_wrote_and_a_flipped_byte_does_not()
    {
        using var cluster = PgTestCluster.Start();
        cluster.Psql("CREATE TABLE pages AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g; CHECKPOINT");
        string file = Path.Combine(cluster.DataDirectory, cluster.Psql("SELECT pg_relation_filepath('pages')"));
        cluster.Stop();
        byte[] bytes = await File.ReadAllBytesAsync(file);
        Assert.True(bytes.Length >= 8 * 8192);
        for (int block = 0; block < bytes.Length / 8192; block++)
        {
            var page = bytes.AsSpan(block * 8192, 8192);
            Assert.Equal(PageChecksum.Stored(page), PageChecksum.Compute(page, (uint)block));
        }
        bytes[3 * 8192 + 5000] ^= 0x10;
        Assert.NotEqual(PageChecksum.Stored(bytes.AsSpan(3 * 8192, 8192)), PageChecksum.Compute(bytes.AsSpan(3 * 8192, 8192), 3));
        // The block number is part of it: a page moved elsewhere fails too.
        Assert.NotEqual(PageChecksum.Stored(bytes.AsSpan(0, 8192)), PageChecksum.Compute(bytes.AsSpan(0, 8192), 1));
    }

    [Fact]
    public async Task A_file_copy_backup_is_accepted_by_pg_verifybackup_and_recovers_every_row()
    {
        using var cluster = await StartArchivingClusterAsync();
        cluster.Psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 5000) g; CREATE UNLOGGED TABLE scratch AS SELECT 1 AS x");
        PgBackup backup;
        using (var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None))
            backup = await PhysicalBackupJob.RunAsync(repo, Server(cluster), new PhysicalBackupOptions(), OperationContext.None);
        Assert.Equal(PhysicalBackupMethod.FileCopy, backup.Method);
        Assert.Null(backup.ClientVersion);

        string restored = Path.Combine(_temp.Path, "restored");
        using (var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None))
            await PhysicalRestoreJob.RunAsync(repo, backup, new PhysicalRestoreOptions { DataDirectory = restored, Immediate = true, WalEntryPoint = WalTestSegments.EntryPoint, ArchiveMode = PgBackupTools.RestoreArchiveMode.Off }, OperationContext.None);
        // pg_verifybackup checks every file against the manifest the copy wrote (-n: the WAL is in the archive, not the backup).
        var (code, output) = RunStatus(Path.Combine(cluster.BinDirectory, "pg_verifybackup"), "-n", restored);
        Assert.True(code == 0, output);
        Assert.False(File.Exists(Path.Combine(restored, "postmaster.pid")));
        Assert.True(Directory.Exists(Path.Combine(restored, "pg_wal", "archive_status")));

        int port = PgTestCluster.FindFreePort();
        File.AppendAllText(Path.Combine(restored, "postgresql.auto.conf"), $"port = {port}\nunix_socket_directories = '{_temp.Path}'\n");
        PgTestCluster.GiveToServerUser(_temp.Path);
        PgTestCluster.RunAsServerUser(Path.Combine(cluster.BinDirectory, "pg_ctl"), "-D", restored, "-l", Path.Combine(_temp.Path, "restored.log"), "-w", "-t", "60", "start");
        try
        {
            var (_, count) = RunStatus(Path.Combine(cluster.BinDirectory, "psql"), "-X", "-A", "-t", "-h", _temp.Path, "-p", port.ToString(), "-U", "postgres", "-d", "postgres", "-c", "SELECT count(*) FROM t");
            Assert.Equal("5000", count.Trim());
        }
        finally
        {
            PgTestCluster.RunAsServerUser(Path.Combine(cluster.BinDirectory, "pg_ctl"), "-D", restored, "-m", "immediate", "-w", "stop");
        }
    }

    [Fact]
    public async Task A_corrupt_page_fails_the_file_copy_naming_the_file_and_block_and_nothing_is_kept()
    {
        using var cluster = await StartArchivingClusterAsync();
        cluster.Psql("CREATE TABLE damaged AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g; CHECKPOINT");
        string relative = cluster.Psql("SELECT pg_relation_filepath('damaged')");
        cluster.Stop();
        string file = Path.Combine(cluster.DataDirectory, relative);
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = 2 * 8192 + 6000;
            int b = stream.ReadByte();
            stream.Position--;
            stream.WriteByte((byte)(b ^ 0x40));
        }
        cluster.StartServer();

        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalBackupJob.RunAsync(repo, Server(cluster), new PhysicalBackupOptions { Method = PhysicalBackupMethod.FileCopy }, OperationContext.None));
        Assert.Equal(FailureKind.InvalidData, e.Kind);
        Assert.Contains($"{relative} block 2", e.Message);
        Assert.Empty(await repo.ListBackupsAsync(null, OperationContext.None));
        Assert.False(Directory.Exists(Path.Combine(RepoPath, "backups", "main")) && Directory.EnumerateFiles(Path.Combine(RepoPath, "backups", "main"), "*", SearchOption.AllDirectories).Any());
        // The server left backup mode with the failed session: another backup can start and stop at once.
        cluster.Psql("SELECT pg_backup_start('after', true); SELECT pg_backup_stop(false)");
    }

    [Fact]
    public async Task Where_the_role_cannot_see_the_data_directory_Auto_streams_with_pg_basebackup_and_FileCopy_says_why_it_cannot()
    {
        using var cluster = await StartArchivingClusterAsync();
        cluster.Psql("CREATE ROLE backup_operator LOGIN REPLICATION; GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO backup_operator; GRANT EXECUTE ON FUNCTION pg_backup_stop(boolean) TO backup_operator; GRANT EXECUTE ON FUNCTION pg_switch_wal() TO backup_operator; GRANT pg_read_all_stats TO backup_operator");
        var operatorServer = PgConnectionInfo.Resolve(host: cluster.SocketDirectory, port: cluster.Port, username: "backup_operator", database: "postgres", environment: new Dictionary<string, string?>());
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);

        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalBackupJob.RunAsync(repo, operatorServer, new PhysicalBackupOptions { Method = PhysicalBackupMethod.FileCopy }, OperationContext.None));
        Assert.Equal(FailureKind.InvalidArgument, e.Kind);
        Assert.Contains("pg_read_all_settings", e.Message);
        Assert.Contains("-Method BaseBackup", e.Message);

        var warnings = new List<string>();
        var backup = await PhysicalBackupJob.RunAsync(repo, operatorServer, new PhysicalBackupOptions(), new OperationContext { Warning = warnings.Add });
        Assert.Equal(PhysicalBackupMethod.BaseBackup, backup.Method);
        Assert.Contains("pg_basebackup", backup.ClientVersion);
        // Nor can it see where the configuration is; the tar carries the data directory's postgresql.conf, so no warning.
        Assert.Null(backup.Configuration);
        Assert.Empty(warnings);
    }

    [Fact]
    public async Task The_backup_session_outlives_a_server_wide_idle_session_timeout_while_the_files_are_copied()
    {
        using var cluster = PgTestCluster.Start("idle_session_timeout = '500ms'\n");
        await using var connection = await PgServer.OpenAsync(ArchivingCluster.Connection(cluster), CancellationToken.None);
        var session = new NonExclusiveBackupSession(connection, 150000, OperationContext.None);
        string start = await session.StartAsync("idle test", CancellationToken.None);
        await Task.Delay(1500); // a copy: the session says nothing for longer than the timeout
        var stop = await session.StopAsync();
        Assert.True(Lsn.Parse(stop.StopLsn) >= Lsn.Parse(start));
        Assert.Contains("LABEL: idle test", stop.LabelFile);
    }

    // ------------------------------------------------------------------ helpers

    private Task<PgTestCluster> StartArchivingClusterAsync() => ArchivingCluster.StartAsync(RepoPath, _temp.Path);

    private static PgConnectionInfo Server(PgTestCluster cluster) => ArchivingCluster.Connection(cluster);

    private static string Run(string file, params string[] args)
    {
        var (code, output) = RunStatus(file, args);
        Assert.True(code == 0, $"{file} failed: {output}");
        return output;
    }

    private static (int Code, string Output) RunStatus(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }
}
