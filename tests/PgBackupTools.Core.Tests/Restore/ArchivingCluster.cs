using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
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
        return PgTestCluster.Start($"archive_mode = on\narchive_command = {ConfigurationFileSyntax.Quote(command)}\n");
    }

    public static PgConnectionInfo Connection(PgTestCluster cluster) =>
        PgConnectionInfo.Resolve(host: cluster.Host, port: cluster.Port, username: "postgres", database: "postgres", environment: new Dictionary<string, string?>());

    /// <summary>A physical backup of <paramref name="cluster"/> into the repository at <paramref name="repoPath"/> (the method Auto picks).</summary>
    public static async Task<PgBackup> BackupAsync(string repoPath, PgTestCluster cluster)
    {
        using var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None);
        return await PhysicalBackupJob.RunAsync(repo, Connection(cluster), new PhysicalBackupOptions(), OperationContext.None);
    }

    /// <summary>
    /// A restore into <paramref name="dir"/> that starts the server on a free port and waits for recovery; it does not
    /// archive unless <paramref name="archive"/> (then with the source's settings, into the same stanza).
    /// </summary>
    public static PhysicalRestoreOptions StartedRestore(string dir, bool archive = false) => new()
    {
        DataDirectory = dir, WalEntryPoint = WalTestSegments.EntryPoint, Start = true, Port = PgTestCluster.FindFreePort(),
        Settings = archive ? null : new Dictionary<string, string> { ["archive_mode"] = "off" },
    };

    /// <summary>One value from a restored server on 127.0.0.1.</summary>
    public static string PsqlAt(int port, string sql)
    {
        using var conn = new NpgsqlConnection($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false");
        conn.Open();
        using var cmd = new NpgsqlCommand(sql, conn);
        return Convert.ToString(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    /// <summary>Stops the servers a test started in restored directories (immediate: they are thrown away).</summary>
    public static void StopRestored(IEnumerable<string> dirs)
    {
        foreach (var dir in dirs.Where(d => File.Exists(Path.Combine(d, "postmaster.pid"))))
        {
            try { PgTestCluster.RunAsServerUser(Path.Combine(PgTestCluster.FindBinDirectory(), "pg_ctl"), "-D", dir, "-m", "immediate", "-w", "stop"); }
            catch (Exception) { }
        }
    }
}
