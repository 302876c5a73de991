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
/// the superuser's too. The scratch server still starts (an empty postgresql.conf of its own) and is asked its
/// questions, through a socket in its own directory with its own pg_hba.conf, never over TCP.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class TestRestoreScratchServerTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_server_configured_outside_its_data_directory_that_wants_passwords_passes_a_test_restore_over_a_private_socket()
    {
        var (cluster, server, repo, backup) = await BackUpDebianStyleClusterAsync();
        using var _ = cluster;
        using var __ = repo;

        var log = new List<string>();
        var test = await BackupTestJob.RunAsync(repo, backup, server, restore: true,
            ["SELECT count(*) = 1000 FROM t", "SELECT current_setting('listen_addresses') = ''", "SELECT current_setting('hba_file') LIKE '%/pgbt_test_hba.conf'"],
            new OperationContext { Verbose = log.Add }, WalTestSegments.EntryPoint);

        Assert.True(test.Passed, test.Error + string.Join('\n', test.Checks.Select(c => $"{c.Kind} {c.Name}: {c.Actual}")));
        Assert.Contains(test.Checks, c => c.Kind == "Recovery" && c.Passed);
        Assert.Equal(4, test.Checks.Count(c => c.Kind == "Query" && c.Passed));
        Assert.Contains(log, line => line.Contains("has no postgresql.conf", StringComparison.Ordinal) && line.Contains("max_connections", StringComparison.Ordinal));
        Assert.False(Directory.Exists(test.ScratchDatabase), "the scratch directory was left behind");
    }

    [Fact]
    public async Task Restore_and_start_says_what_to_do_when_the_backup_has_no_postgresql_conf_or_the_restored_server_wants_a_password()
    {
        var (cluster, _, repo, backup) = await BackUpDebianStyleClusterAsync();
        using var _ = cluster;
        using var __ = repo;

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
            CopyConfigurationIn(Path.Combine(_temp.Path, "etc"), configured);
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
    /// A cluster archiving into a repository, its configuration moved out as Debian keeps it, a password wanted for
    /// every TCP login, 1,000 rows in t, and a physical backup of it taken through its socket (as its own tools would).
    /// </summary>
    private async Task<(PgTestCluster Cluster, PgConnectionInfo Server, BackupRepository Repository, PgBackup Backup)> BackUpDebianStyleClusterAsync()
    {
        string repoPath = Path.Combine(_temp.Path, "repo");
        var cluster = await ArchivingCluster.StartAsync(repoPath, _temp.Path);
        cluster.Psql("ALTER ROLE postgres PASSWORD 'not-given-to-the-test'; CREATE TABLE t AS SELECT generate_series(1, 1000) AS id");
        MoveConfigurationOut(cluster, Path.Combine(_temp.Path, "etc"));
        Assert.False(File.Exists(Path.Combine(cluster.DataDirectory, "postgresql.conf")));
        var server = PgConnectionInfo.Resolve(host: cluster.SocketDirectory, port: cluster.Port, username: "postgres", database: "postgres", environment: new Dictionary<string, string?>());
        var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None);
        return (cluster, server, repo, await PhysicalBackupJob.RunAsync(repo, server, new PhysicalBackupOptions(), OperationContext.None));
    }

    /// <summary>What the refusal above tells a user to do: the files into the restored directory, pointing there.</summary>
    private static void CopyConfigurationIn(string etc, string dataDirectory)
    {
        foreach (var name in new[] { "pg_hba.conf", "pg_ident.conf" }) File.Copy(Path.Combine(etc, name), Path.Combine(dataDirectory, name));
        var lines = File.ReadAllLines(Path.Combine(etc, "postgresql.conf")).Where(l => !l.StartsWith("data_directory", StringComparison.Ordinal)
            && !l.StartsWith("hba_file", StringComparison.Ordinal) && !l.StartsWith("ident_file", StringComparison.Ordinal));
        File.WriteAllLines(Path.Combine(dataDirectory, "postgresql.conf"), lines);
        PgTestCluster.GiveToServerUser(dataDirectory);
    }

    /// <summary>The Debian layout: the three files in their own directory, named by config_file, hba_file and ident_file.</summary>
    private static void MoveConfigurationOut(PgTestCluster cluster, string etc)
    {
        cluster.Stop();
        Directory.CreateDirectory(etc);
        foreach (var name in new[] { "postgresql.conf", "pg_hba.conf", "pg_ident.conf" })
            File.Move(Path.Combine(cluster.DataDirectory, name), Path.Combine(etc, name));
        File.AppendAllText(Path.Combine(etc, "postgresql.conf"),
            $"\ndata_directory = '{cluster.DataDirectory}'\nhba_file = '{etc}/pg_hba.conf'\nident_file = '{etc}/pg_ident.conf'\n");
        File.WriteAllText(Path.Combine(etc, "pg_hba.conf"), """
            local all all trust
            local replication all trust
            host all all 127.0.0.1/32 scram-sha-256
            host replication all 127.0.0.1/32 scram-sha-256

            """);
        PgTestCluster.GiveToServerUser(etc);
        PgTestCluster.RunAsServerUser(Path.Combine(cluster.BinDirectory, "pg_ctl"), "-D", cluster.DataDirectory, "-o", $"-c config_file={etc}/postgresql.conf",
            "-l", cluster.LogFile, "-w", "-t", "60", "start");
    }
}
