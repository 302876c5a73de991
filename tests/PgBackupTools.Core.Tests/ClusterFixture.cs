using PgBackupTools.Core.Postgres;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests;

/// <summary>One real PostgreSQL cluster shared by the tests of the "cluster" collection, removed at the end.</summary>
public sealed class ClusterFixture : IDisposable
{
    public PgTestCluster Cluster { get; } = PgTestCluster.Start();

    public PgConnectionInfo Connection(string database = "postgres") =>
        PgConnectionInfo.Resolve(host: Cluster.Host, port: Cluster.Port, username: "postgres", database: database, environment: new Dictionary<string, string?>());

    /// <summary>A fresh database with the sample audit schema and <paramref name="rows"/> audit rows.</summary>
    public string CreateAuditDatabase(string? name = null, int rows = 2000)
    {
        name ??= "audit_" + Guid.NewGuid().ToString("N")[..8];
        Cluster.CreateDatabase(name);
        Cluster.Psql($"\\set rows {rows}\n\\i {SampleSql}", name);
        return name;
    }

    public static string SampleSql => Path.Combine(RepoRoot, "examples", "sample-audit-database.sql");

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PgBackupTools.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }

    public void Dispose() => Cluster.Dispose();
}

[CollectionDefinition("cluster")]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>;

/// <summary>A temp folder removed after the test.</summary>
public sealed class TempDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pgbt-tests-" + Guid.NewGuid().ToString("N")[..10]);
    public TempDirectory() => Directory.CreateDirectory(Path);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
