using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Tests.Restore;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Backup;

/// <summary>
/// A physical backup of a server that archives nothing is refused before a byte is copied, with the reason the server
/// gives (archive_mode off, a restart pending, nothing to archive with) and the fix; a server that does archive, or
/// whose WAL a stream's replication slot keeps, passes.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser: the test clusters are Linux-only
public sealed class WalArchivingPrecheckTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Each_way_of_not_archiving_is_named_with_its_fix_and_a_server_that_archives_passes()
    {
        using var cluster = PgTestCluster.Start();
        var server = ArchivingCluster.Connection(cluster);
        async Task<string> Refusal() =>
            (await Assert.ThrowsAsync<PgBackupException>(() => WalArchivingPrecheck.ThrowIfWalCannotReachArchiveAsync(server, "/srv/repo", CancellationToken.None))).Message;

        string off = await Refusal();
        Assert.Contains("(archive_mode is off)", off);
        Assert.Contains("Enable-PgWalArchiving -Repository '/srv/repo'", off);

        // A WAL stream's slot keeps the WAL for a receiver that is reconnecting: the archive timeout judges then.
        cluster.Psql("SELECT pg_create_physical_replication_slot('pgbt_main')");
        await WalArchivingPrecheck.ThrowIfWalCannotReachArchiveAsync(server, "/srv/repo", CancellationToken.None);
        cluster.Psql("SELECT pg_drop_replication_slot('pgbt_main')");

        cluster.Psql("ALTER SYSTEM SET archive_mode = on; SELECT pg_reload_conf()");
        await WaitUntil(cluster, "SELECT pending_restart FROM pg_settings WHERE name = 'archive_mode'");
        string pending = await Refusal();
        Assert.Contains("takes effect only when the server restarts", pending);
        Assert.Contains("Restart the server", pending);

        cluster.Stop();
        cluster.StartServer();
        Assert.Contains("neither archive_command nor archive_library is set", await Refusal());

        cluster.Psql("ALTER SYSTEM SET archive_command = 'true'; SELECT pg_reload_conf()");
        await WaitUntil(cluster, "SELECT current_setting('archive_command') = 'true'");
        await WalArchivingPrecheck.ThrowIfWalCannotReachArchiveAsync(server, "/srv/repo", CancellationToken.None);
    }

    [Fact]
    public async Task A_physical_backup_of_a_server_that_archives_nothing_stores_nothing()
    {
        using var cluster = PgTestCluster.Start();
        string repoPath = Path.Combine(_temp.Path, "repo");
        using var repo = await BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None);
        var e = await Assert.ThrowsAsync<PgBackupException>(() =>
            PhysicalBackupJob.RunAsync(repo, ArchivingCluster.Connection(cluster), new PhysicalBackupOptions(), OperationContext.None));
        Assert.Contains("archive_mode is off", e.Message);
        Assert.Contains("nothing was copied or stored", e.Message);
        Assert.False(Directory.Exists(Path.Combine(repoPath, "backups")) && Directory.EnumerateFileSystemEntries(Path.Combine(repoPath, "backups"), "*", SearchOption.AllDirectories).Any(),
            "the refused backup left files in the repository");
    }

    /// <summary>pg_reload_conf() only signals: a new session sees the settings once the postmaster has read the file again.</summary>
    private static async Task WaitUntil(PgTestCluster cluster, string predicate)
    {
        for (int i = 0; i < 300 && cluster.Psql(predicate).Trim() != "t"; i++) await Task.Delay(100);
        Assert.Equal("t", cluster.Psql(predicate).Trim());
    }
}
