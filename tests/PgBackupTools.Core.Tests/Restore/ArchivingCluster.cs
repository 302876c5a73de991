using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>A repository and a real cluster that archives into it through pgbt-wal: what physical backup tests start from.</summary>
internal static class ArchivingCluster
{
    /// <param name="ownedDirectory">The test's temp folder (holding the repository): given to the server user, who archives into it.</param>
    public static async Task<PgTestCluster> StartAsync(string repoPath, string ownedDirectory)
    {
        using (await BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None)) { }
        PgTestCluster.GiveToServerUser(ownedDirectory);
        string command = WalCommands.ArchiveCommand(WalTestSegments.EntryPoint, repoPath, "main");
        return PgTestCluster.Start($"archive_mode = on\narchive_command = {WalCommands.SqlLiteral(command)}\n");
    }

    public static PgConnectionInfo Connection(PgTestCluster cluster) =>
        PgConnectionInfo.Resolve(host: cluster.Host, port: cluster.Port, username: "postgres", database: "postgres", environment: new Dictionary<string, string?>());
}
