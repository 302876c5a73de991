using System.Text.RegularExpressions;
using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Verify;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// A physical backup of a server configured outside its data directory (Debian's and Ubuntu's layout) carries that
/// configuration, and a restore with -Start into a new directory starts from it with no step by hand, never pointing
/// at the live cluster's data directory, pid file or configuration.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class ExternalConfigurationTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(PhysicalBackupMethod.FileCopy)]
    [InlineData(PhysicalBackupMethod.BaseBackup)]
    public async Task A_backup_carries_the_configuration_outside_the_data_directory_and_a_started_restore_elsewhere_runs_on_it(PhysicalBackupMethod method)
    {
        using var debian = await DebianStyleCluster.StartAsync(_temp.Path);
        using var repo = await BackupRepository.OpenAsync(debian.RepositoryPath, create: false, CancellationToken.None);
        var warnings = new List<string>();
        var backup = await PhysicalBackupJob.RunAsync(repo, debian.Server, new PhysicalBackupOptions { Method = method }, new OperationContext { Warning = warnings.Add });

        Assert.Empty(warnings);
        Assert.Equal(method, backup.Method);
        var config = Assert.IsType<PgBackupConfiguration>(backup.Configuration);
        Assert.Equal(debian.ConfigFile, config.ConfigFile);
        Assert.Equal(debian.HbaFile, config.HbaFile);
        Assert.Equal(debian.IdentFile, config.IdentFile);
        Assert.Equal(debian.Cluster.DataDirectory, config.DataDirectory);
        Assert.Equal(new[] { debian.ConfigFile, debian.ConfDFile, debian.HbaFile, debian.IdentFile }.Order(), config.Files.Select(f => f.Path).Order()); // not ssl_key_file
        foreach (var file in config.Files)
        {
            Assert.Null(file.NotCaptured);
            Assert.Equal("config" + file.Path + ".zst", file.BackupFile);
            var stored = Assert.Single(backup.Files, f => f.Name == file.BackupFile);
            using var content = new MemoryStream();
            await BackupFileReader.CopyVerifiedAsync(repo, backup, stored, content, null, CancellationToken.None);
            Assert.Equal(File.ReadAllBytes(file.Path), content.ToArray());
        }
        var committed = await repo.GetBackupAsync(backup.Stanza, backup.Id, CancellationToken.None);
        Assert.Equal(4, committed.Configuration!.Files.Count(f => f.BackupFile is not null));

        var live = LiveState(debian);
        string restored = Path.Combine(_temp.Path, "restored");
        var options = ArchivingCluster.StartedRestore(restored) with { ServerHost = debian.Cluster.SocketDirectory };
        try
        {
            var result = await PhysicalRestoreJob.RunAsync(repo, backup, options, OperationContext.None);

            Assert.Equal("promoted", result.RecoveryState);
            Assert.Equal(new[] { "conf.d/50-pgbt.conf", "pg_hba.conf", "pg_ident.conf", "postgresql.conf" },
                result.ConfigurationFiles!.Select(f => Path.GetRelativePath(restored, f)).Order());
            Assert.Equal("1000", AtSocket(debian, options.Port!.Value, "SELECT count(*) FROM t"));
            Assert.Equal(restored, AtSocket(debian, options.Port.Value, "SHOW data_directory"));
            Assert.Equal(Path.Combine(restored, "postgresql.conf"), AtSocket(debian, options.Port.Value, "SHOW config_file"));
            Assert.Equal(Path.Combine(restored, "pg_hba.conf"), AtSocket(debian, options.Port.Value, "SHOW hba_file"));
            Assert.Equal(Path.Combine(restored, "pg_ident.conf"), AtSocket(debian, options.Port.Value, "SHOW ident_file"));
            Assert.Equal(DebianStyleCluster.WorkMem, AtSocket(debian, options.Port.Value, "SHOW work_mem"));
            Assert.Equal("", AtSocket(debian, options.Port.Value, "SHOW external_pid_file"));
            string conf = File.ReadAllText(Path.Combine(restored, "postgresql.conf"));
            Assert.DoesNotMatch(new Regex(@"^\s*(data_directory|hba_file|ident_file|external_pid_file)\b", RegexOptions.Multiline), conf);
            Assert.DoesNotContain(debian.Cluster.DataDirectory + "'", conf.Split('\n').Where(l => !l.TrimStart().StartsWith('#')).Aggregate("", string.Concat));
            Assert.Equal(live, LiveState(debian));
        }
        finally
        {
            ArchivingCluster.StopRestored([restored]);
        }
        Assert.Equal(live, LiveState(debian));
        Assert.Equal("1000", debian.Cluster.Psql("SELECT count(*) FROM t").Trim());
    }

    [Fact]
    public async Task A_flipped_byte_in_a_stored_configuration_file_fails_the_checksum_check()
    {
        using var debian = await DebianStyleCluster.StartAsync(_temp.Path);
        using var repo = await BackupRepository.OpenAsync(debian.RepositoryPath, create: false, CancellationToken.None);
        var backup = await PhysicalBackupJob.RunAsync(repo, debian.Server, new PhysicalBackupOptions(), OperationContext.None);
        string name = backup.Configuration!.Files.Single(f => f.Path == debian.HbaFile).BackupFile!;
        string stored = Path.Combine(debian.RepositoryPath, BackupRepository.BackupFileKey(backup.Stanza, backup.Id, name));
        var bytes = File.ReadAllBytes(stored);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(stored, bytes);

        var test = await BackupTestJob.RunAsync(repo, backup, debian.Server, restore: false, [], OperationContext.None);

        Assert.False(test.Passed);
        var failed = Assert.Single(test.Checks, c => !c.Passed);
        Assert.Equal("Checksum", failed.Kind);
        Assert.Equal(name, failed.Name);
        Assert.Contains(name, test.Error);

        // A restore reads it through the same checksums, before it writes anything.
        string restored = Path.Combine(_temp.Path, "restored");
        var refused = await Assert.ThrowsAsync<Errors.ChecksumMismatchException>(() =>
            PhysicalRestoreJob.RunAsync(repo, backup, ArchivingCluster.StartedRestore(restored) with { Start = false }, OperationContext.None));
        Assert.Contains(name, refused.Message);
        Assert.False(Directory.Exists(restored), "nothing should be written before the configuration files are checked");
    }

    [Fact]
    public async Task A_configuration_file_that_cannot_be_read_is_a_warning_and_the_backup_still_succeeds()
    {
        using var debian = await DebianStyleCluster.StartAsync(_temp.Path);
        using var repo = await BackupRepository.OpenAsync(debian.RepositoryPath, create: false, CancellationToken.None);
        // The server read pg_ident.conf when it started; now it is gone (SHOW ident_file still names it).
        File.Move(debian.IdentFile, debian.IdentFile + ".moved");
        var warnings = new List<string>();

        var backup = await PhysicalBackupJob.RunAsync(repo, debian.Server, new PhysicalBackupOptions(), new OperationContext { Warning = warnings.Add });

        var warning = Assert.Single(warnings);
        Assert.Contains(debian.IdentFile, warning);
        Assert.Contains("is not in backup", warning);
        var ident = Assert.Single(backup.Configuration!.Files, f => f.Path == debian.IdentFile);
        Assert.Null(ident.BackupFile);
        Assert.Contains("could not", ident.NotCaptured);
        Assert.Equal(3, backup.Configuration.Files.Count(f => f.BackupFile is not null));
        Assert.Equal(backup.Id, (await repo.GetBackupAsync(backup.Stanza, backup.Id, CancellationToken.None)).Id);

        // The restore writes what it has and names the missing file where it was, saying so.
        string restored = Path.Combine(_temp.Path, "restored");
        var restoreWarnings = new List<string>();
        var result = await PhysicalRestoreJob.RunAsync(repo, backup, ArchivingCluster.StartedRestore(restored) with { Start = false }, new OperationContext { Warning = restoreWarnings.Add });
        Assert.Equal(3, result.ConfigurationFiles!.Count);
        Assert.Contains($"ident_file = '{debian.IdentFile}'", File.ReadAllText(Path.Combine(restored, "postgresql.conf")));
        Assert.Contains(restoreWarnings, w => w.Contains(debian.IdentFile, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_role_that_cannot_see_where_the_configuration_is_gets_a_warning_and_a_backup_restored_as_before()
    {
        using var debian = await DebianStyleCluster.StartAsync(_temp.Path);
        using var repo = await BackupRepository.OpenAsync(debian.RepositoryPath, create: false, CancellationToken.None);
        debian.Cluster.Psql("CREATE ROLE backup_operator LOGIN REPLICATION; GRANT EXECUTE ON FUNCTION pg_switch_wal() TO backup_operator; GRANT pg_read_all_stats TO backup_operator");
        var operatorServer = PgBackupTools.Core.Postgres.PgConnectionInfo.Resolve(host: debian.Cluster.SocketDirectory, port: debian.Cluster.Port, username: "backup_operator", database: "postgres", environment: new Dictionary<string, string?>());
        var warnings = new List<string>();

        var backup = await PhysicalBackupJob.RunAsync(repo, operatorServer, new PhysicalBackupOptions(), new OperationContext { Warning = warnings.Add });

        Assert.Equal(PhysicalBackupMethod.BaseBackup, backup.Method);
        Assert.Null(backup.Configuration);
        Assert.DoesNotContain(backup.Files, f => f.Name.StartsWith("config/", StringComparison.Ordinal));
        var warning = Assert.Single(warnings);
        Assert.Contains("does not carry the server's configuration files", warning);
        Assert.Contains("pg_read_all_settings", warning);
        var noConfig = await Assert.ThrowsAsync<Errors.PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, ArchivingCluster.StartedRestore(Path.Combine(_temp.Path, "restored")), OperationContext.None));
        Assert.Contains("The backup holds no postgresql.conf", noConfig.Message);
    }

    /// <summary>What a restore elsewhere must leave as it was: the live configuration's bytes, its pid file, its data directory's postmaster.pid.</summary>
    private static string LiveState(DebianStyleCluster debian) => string.Join("\n---\n",
        new[] { debian.ConfigFile, debian.HbaFile, debian.IdentFile, debian.ConfDFile, debian.ExternalPidFile, Path.Combine(debian.Cluster.DataDirectory, "postmaster.pid") }
            .Select(f => f + ":" + File.ReadAllText(f)));

    private static string AtSocket(DebianStyleCluster debian, int port, string sql)
    {
        using var conn = new NpgsqlConnection($"Host={debian.Cluster.SocketDirectory};Port={port};Username=postgres;Database=postgres;Pooling=false");
        conn.Open();
        using var cmd = new NpgsqlCommand(sql, conn);
        return Convert.ToString(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }
}
