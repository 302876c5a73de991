using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// The recovery settings a restore appends to postgresql.auto.conf are read back by PostgreSQL exactly as meant, also
/// when a value holds a quote or a backslash (a configuration file, unlike SQL, reads a backslash as an escape).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser: the test clusters are Linux-only
public sealed class RecoveryConfigurationQuotingTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    [Fact]
    public async Task PostgreSQL_reads_back_restore_command_and_settings_with_quotes_and_backslashes_as_written()
    {
        using var cluster = PgTestCluster.Start(null, null);
        cluster.Stop();
        using var repo = await BackupRepository.OpenAsync(Path.Combine(_temp.Path, @"o'brien \ repo"), create: true, CancellationToken.None);
        var backup = new PgBackup { Id = "20261125T000000Z-abcdef", Stanza = "main", Type = BackupType.Physical, Timeline = 1 };
        var options = new PhysicalRestoreOptions
        {
            DataDirectory = cluster.DataDirectory, WalEntryPoint = "/opt/pgbt/pgbt-wal", TargetName = @"before 'upgrade' \ night",
            Settings = new Dictionary<string, string> { ["cluster_name"] = @"a\b'c\\d" },
        };

        PhysicalRestoreJob.WriteRecoveryConfiguration(repo, backup, cluster.DataDirectory, options);

        Assert.Equal(WalCommands.RestoreCommand(options.WalEntryPoint, repo.Location, "main"), Show(cluster, "restore_command"));
        Assert.Equal(options.TargetName, Show(cluster, "recovery_target_name"));
        Assert.Equal(@"a\b'c\\d", Show(cluster, "cluster_name"));
    }

    /// <summary>What the server would run with: postgres -C reads postgresql.conf and postgresql.auto.conf as a start does.</summary>
    private static string Show(PgTestCluster cluster, string setting)
        => ProgramRunner.RunAsServerUser(null, Path.Combine(cluster.BinDirectory, "postgres"), ["-D", cluster.DataDirectory, "-C", setting], TimeSpan.FromSeconds(30)).Output;

    public void Dispose() => _temp.Dispose();
}
