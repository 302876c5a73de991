using PgBackupTools.Core.Postgres;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// A cluster archiving into a repository and laid out as Debian's and Ubuntu's pg_createcluster lays it out: its
/// postgresql.conf, pg_hba.conf, pg_ident.conf and conf.d in a directory of their own (<see cref="Etc"/>), named by
/// config_file (given on the command line, as pg_ctlcluster does), data_directory, hba_file and ident_file; an
/// external_pid_file there too, and an ssl_key_file (a key is not configuration: no backup may carry it); a password
/// for every TCP login, the superuser's too; 1,000 rows in t.
/// </summary>
internal sealed class DebianStyleCluster : IDisposable
{
    /// <summary>What conf.d/50-pgbt.conf sets: a restore that reads conf.d has it.</summary>
    public const string WorkMem = "7MB";

    private DebianStyleCluster(PgTestCluster cluster, string etc, string repoPath)
    {
        Cluster = cluster;
        Etc = etc;
        RepositoryPath = repoPath;
    }

    public PgTestCluster Cluster { get; }
    public string Etc { get; }
    public string RepositoryPath { get; }
    public string ConfigFile => Path.Combine(Etc, "postgresql.conf");
    public string HbaFile => Path.Combine(Etc, "pg_hba.conf");
    public string IdentFile => Path.Combine(Etc, "pg_ident.conf");
    public string ConfDFile => Path.Combine(Etc, "conf.d", "50-pgbt.conf");
    public string ExternalPidFile => Path.Combine(Etc, "live.pid");
    public string SslKeyFile => Path.Combine(Etc, "server.key");

    /// <summary>The cluster reached through its socket (as its own tools reach it: TCP wants a password).</summary>
    public PgConnectionInfo Server => PgConnectionInfo.Resolve(host: Cluster.SocketDirectory, port: Cluster.Port, username: "postgres", database: "postgres", environment: new Dictionary<string, string?>());

    /// <param name="temp">The test's temp folder: the repository goes into repo/, the configuration into etc/.</param>
    public static async Task<DebianStyleCluster> StartAsync(string temp)
    {
        string repoPath = Path.Combine(temp, "repo");
        var cluster = await ArchivingCluster.StartAsync(repoPath, temp);
        try
        {
            cluster.Psql("ALTER ROLE postgres PASSWORD 'not-given-to-the-test'; CREATE TABLE t AS SELECT generate_series(1, 1000) AS id");
            var debian = new DebianStyleCluster(cluster, Path.Combine(temp, "etc"), repoPath);
            debian.MoveConfigurationOut();
            Assert.False(File.Exists(Path.Combine(cluster.DataDirectory, "postgresql.conf")));
            return debian;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    public void Dispose() => Cluster.Dispose();

    private void MoveConfigurationOut()
    {
        Cluster.Stop();
        Directory.CreateDirectory(Path.Combine(Etc, "conf.d"));
        foreach (var name in new[] { "postgresql.conf", "pg_hba.conf", "pg_ident.conf" })
            File.Move(Path.Combine(Cluster.DataDirectory, name), Path.Combine(Etc, name));
        File.AppendAllText(ConfigFile,
            $"\ndata_directory = '{Cluster.DataDirectory}'\nhba_file = '{HbaFile}'\nident_file = '{IdentFile}'\nexternal_pid_file = '{ExternalPidFile}'\nssl_key_file = '{SslKeyFile}'\ninclude_dir = 'conf.d'\n");
        File.WriteAllText(SslKeyFile, "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n");
        File.WriteAllText(ConfDFile, $"work_mem = '{WorkMem}'\n");
        File.WriteAllText(HbaFile, """
            local all all trust
            local replication all trust
            host all all 127.0.0.1/32 scram-sha-256
            host replication all 127.0.0.1/32 scram-sha-256

            """);
        PgTestCluster.GiveToServerUser(Etc);
        PgTestCluster.RunAsServerUser(Path.Combine(Cluster.BinDirectory, "pg_ctl"), "-D", Cluster.DataDirectory, "-o", $"-c config_file={ConfigFile}",
            "-l", Cluster.LogFile, "-w", "-t", "60", "start");
    }
}
