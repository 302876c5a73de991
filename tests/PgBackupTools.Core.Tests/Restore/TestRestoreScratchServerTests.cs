using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Verify;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// Test-PgBackup -Restore of a physical backup from a server set up as Debian and Ubuntu packages set it up: its
/// postgresql.conf, pg_hba.conf and pg_ident.conf outside the data directory, and a password for every TCP connection,
/// the superuser's too. The scratch server starts with the configuration the backup carries (or, for a backup from
/// before that, an empty postgresql.conf of its own) and is asked its questions, through a socket in its own directory
/// with its own pg_hba.conf, never over TCP.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class TestRestoreScratchServerTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_server_configured_outside_its_data_directory_that_wants_passwords_passes_a_test_restore_with_its_own_configuration_over_a_private_socket()
    {
        using var debian = await DebianStyleCluster.StartAsync(_temp.Path);
        using var repo = await BackupRepository.OpenAsync(debian.RepositoryPath, create: false, CancellationToken.None);
        var backup = await PhysicalBackupJob.RunAsync(repo, debian.Server, new PhysicalBackupOptions(), OperationContext.None);

        var log = new List<string>();
        var test = await BackupTestJob.RunAsync(repo, backup, debian.Server, restore: true,
            ["SELECT count(*) = 1000 FROM t", "SELECT current_setting('listen_addresses') = ''", "SELECT current_setting('hba_file') LIKE '%/pgbt_test_hba.conf'",
             $"SELECT current_setting('work_mem') = '{DebianStyleCluster.WorkMem}'", "SELECT current_setting('external_pid_file') = ''",
             "SELECT current_setting('shared_buffers') = '128MB'"],
            new OperationContext { Verbose = log.Add }, WalTestSegments.EntryPoint);

        Assert.True(test.Passed, test.Error + string.Join('\n', test.Checks.Select(c => $"{c.Kind} {c.Name}: {c.Actual}")));
        Assert.Contains(test.Checks, c => c.Kind == "Recovery" && c.Passed);
        Assert.Contains(test.Checks, c => c.Kind == "VerifyBackup" && c.Passed);
        Assert.Equal(7, test.Checks.Count(c => c.Kind == "Query" && c.Passed));
        Assert.Contains(log, line => line.Contains("runs with the backed-up server's configuration", StringComparison.Ordinal));
        Assert.False(Directory.Exists(test.ScratchDatabase), "the scratch directory was left behind");
        Assert.Equal(debian.Cluster.DataDirectory, debian.Cluster.Psql("SHOW data_directory").Trim());
    }

    [Fact]
    public async Task A_backup_without_captured_configuration_passes_a_test_restore_on_an_empty_postgresql_conf()
    {
        using var debian = await DebianStyleCluster.StartAsync(_temp.Path);
        using var repo = await BackupRepository.OpenAsync(debian.RepositoryPath, create: false, CancellationToken.None);
        var backup = await OldStyleBackupAsync(repo, debian);

        var log = new List<string>();
        var test = await BackupTestJob.RunAsync(repo, backup, debian.Server, restore: true,
            ["SELECT count(*) = 1000 FROM t", "SELECT current_setting('listen_addresses') = ''", "SELECT current_setting('hba_file') LIKE '%/pgbt_test_hba.conf'"],
            new OperationContext { Verbose = log.Add }, WalTestSegments.EntryPoint);

        Assert.True(test.Passed, test.Error + string.Join('\n', test.Checks.Select(c => $"{c.Kind} {c.Name}: {c.Actual}")));
        Assert.Equal(4, test.Checks.Count(c => c.Kind == "Query" && c.Passed));
        Assert.Contains(log, line => line.Contains("has no postgresql.conf", StringComparison.Ordinal) && line.Contains("max_connections", StringComparison.Ordinal));
        Assert.False(Directory.Exists(test.ScratchDatabase), "the scratch directory was left behind");
    }

    [Fact]
    public async Task Restore_and_start_of_a_backup_without_captured_configuration_says_what_to_do_and_the_restored_server_wants_a_password()
    {
        using var debian = await DebianStyleCluster.StartAsync(_temp.Path);
        using var repo = await BackupRepository.OpenAsync(debian.RepositoryPath, create: false, CancellationToken.None);
        var backup = await OldStyleBackupAsync(repo, debian);

        string bare = Path.Combine(_temp.Path, "bare");
        var noConfig = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, ArchivingCluster.StartedRestore(bare), OperationContext.None));
        Assert.Contains("The backup holds no postgresql.conf", noConfig.Message);
        Assert.Contains($"pg_ident.conf and conf.d into {bare}", noConfig.Message);
        Assert.Contains("comment out data_directory, hba_file, ident_file and external_pid_file", noConfig.Message);

        // With the configuration copied in as that message says, the server starts; its pg_hba.conf wants a password over TCP.
        string configured = Path.Combine(_temp.Path, "configured");
        var restore = ArchivingCluster.StartedRestore(configured);
        try
        {
            await PhysicalRestoreJob.RunAsync(repo, backup, restore with { Start = false }, OperationContext.None);
            CopyConfigurationIn(debian.Etc, configured);
            var refused = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.StartAndWaitAsync(repo, configured, restore, new PgRestoreResult(), OperationContext.None));
            Assert.Equal(FailureKind.PermissionDenied, refused.Kind);
            Assert.Contains("refused PgBackupTools' connection as 'postgres'", refused.Message);
            Assert.Contains("PGPASSWORD or ~/.pgpass", refused.Message);
            Assert.True(File.Exists(Path.Combine(configured, "postmaster.pid")), "the restored server should be left running: recovery goes on");
        }
        finally
        {
            ArchivingCluster.StopRestored([configured]);
        }
    }

    /// <summary>
    /// A backup as PgBackupTools wrote them before it captured configuration: its manifest (sealed and authenticated
    /// as any) without Configuration and without the config/ files.
    /// </summary>
    internal static async Task<PgBackup> OldStyleBackupAsync(BackupRepository repo, DebianStyleCluster debian)
    {
        var backup = await PhysicalBackupJob.RunAsync(repo, debian.Server, new PhysicalBackupOptions(), OperationContext.None);
        Assert.NotNull(backup.Configuration);
        backup.Configuration = null;
        backup.Files.RemoveAll(f => f.Name.StartsWith("config/", StringComparison.Ordinal));
        await repo.Store.DeleteAsync(BackupRepository.BackupFileKey(backup.Stanza, backup.Id, BackupRepository.ManifestName), CancellationToken.None);
        await repo.WriteManifestAsync(backup, CancellationToken.None);
        return backup;
    }

    /// <summary>What the refusal above tells a user to do: the files into the restored directory, pointing there.</summary>
    private static void CopyConfigurationIn(string etc, string dataDirectory)
    {
        foreach (var name in new[] { "pg_hba.conf", "pg_ident.conf" }) File.Copy(Path.Combine(etc, name), Path.Combine(dataDirectory, name));
        CopyDirectory(Path.Combine(etc, "conf.d"), Path.Combine(dataDirectory, "conf.d"));
        var lines = File.ReadAllLines(Path.Combine(etc, "postgresql.conf")).Where(l => !l.StartsWith("data_directory", StringComparison.Ordinal)
            && !l.StartsWith("hba_file", StringComparison.Ordinal) && !l.StartsWith("ident_file", StringComparison.Ordinal) && !l.StartsWith("external_pid_file", StringComparison.Ordinal));
        File.WriteAllLines(Path.Combine(dataDirectory, "postgresql.conf"), lines);
        PgTestCluster.GiveToServerUser(dataDirectory);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }
}
