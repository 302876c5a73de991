using System.Diagnostics;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Wal;

/// <summary>A real cluster whose archive_command is pgbt-wal: PostgreSQL archives, fails while the repository is unwritable, catches up.</summary>
[Collection("cluster")]
public sealed class WalArchivingClusterTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _temp = new();

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // chmod, runuser: the test clusters are Linux-only
    public async Task PostgreSQL_archives_through_pgbt_wal_keeps_its_WAL_while_the_repository_is_unwritable_and_catches_up()
    {
        string repoPath = Path.Combine(_temp.Path, "repo");
        await BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None);
        PgTestCluster.GiveToServerUser(_temp.Path);
        string command = WalCommands.ArchiveCommand(WalTestSegments.EntryPoint, repoPath, "main");
        using var cluster = PgTestCluster.Start($"archive_mode = on\narchive_command = {ConfigurationFileSyntax.Quote(command)}\n");
        var archive = await WalArchive.OpenAsync(repoPath, "main", CancellationToken.None);

        // Archived as PostgreSQL calls it.
        var first = SwitchWal(cluster, 3);
        WaitFor(cluster, () => ArchivedUpTo(cluster, first[^1]), "the first segments to be archived");
        var names = (await archive.ListAsync(CancellationToken.None)).Select(f => f.Name.Name).ToHashSet();
        Assert.Superset(first.ToHashSet(), names);
        var binding = await archive.ReadBindingAsync(CancellationToken.None);
        Assert.Equal(cluster.Psql("SELECT system_identifier FROM pg_control_system()"), binding!.SystemIdentifier);

        // Unwritable: archive_command fails, PostgreSQL keeps the segments and marks them .ready.
        string timelineDir = Path.Combine(repoPath, "wal", "main", "00000001");
        File.SetUnixFileMode(timelineDir, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        long failedBefore = long.Parse(cluster.Psql("SELECT failed_count FROM pg_stat_archiver"));
        var blocked = SwitchWal(cluster, 2);
        WaitFor(cluster, () => long.Parse(cluster.Psql("SELECT failed_count FROM pg_stat_archiver")) > failedBefore, "archive_command to fail");
        foreach (var name in blocked)
        {
            Assert.True(File.Exists(Path.Combine(cluster.DataDirectory, "pg_wal", name)), $"{name} must stay in pg_wal");
            Assert.True(File.Exists(Path.Combine(cluster.DataDirectory, "pg_wal", "archive_status", name + ".ready")), $"{name} must wait to be archived");
        }
        Assert.DoesNotContain(blocked[0], (await archive.ListAsync(CancellationToken.None)).Select(f => f.Name.Name));

        // Writable again: everything arrives (a new segment wakes the archiver up).
        File.SetUnixFileMode(timelineDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var after = SwitchWal(cluster, 1);
        WaitFor(cluster, () => ArchivedUpTo(cluster, after[^1]), "the archive to catch up");
        names = (await archive.ListAsync(CancellationToken.None)).Select(f => f.Name.Name).ToHashSet();
        Assert.Superset(blocked.Concat(after).ToHashSet(), names);
        var report = await archive.CheckContinuityAsync(first[0], CancellationToken.None);
        Assert.True(report.Passed, string.Join(" ", report.Problems));

        // The archived bytes are PostgreSQL's bytes.
        string dest = Path.Combine(_temp.Path, "RECOVERYXLOG");
        await archive.GetAsync(after[0], dest, new WalGetOptions(), OperationContext.None);
        Assert.Equal(File.ReadAllBytes(Path.Combine(cluster.DataDirectory, "pg_wal", after[0])), File.ReadAllBytes(dest));

        // WAL of another cluster is refused by this stanza, through the entry point: exit 3, one line on stderr.
        var foreign = WalTestSegments.CopyCompleted(fixture.Cluster, _temp.Path, 1)[0];
        var (code, stderr) = WalTestSegments.RunEntryPoint("push", foreign, "--repo", repoPath);
        Assert.Equal(3, code);
        Assert.Contains("system identifier", stderr);
        await Assert.ThrowsAsync<WalWrongClusterException>(() => archive.PushAsync(foreign, new WalPushOptions(), OperationContext.None));

        // restore_command semantics: a missing file exits 1 quietly; a present one is written.
        (code, stderr) = WalTestSegments.RunEntryPoint("get", "00000009.history", Path.Combine(_temp.Path, "x"), "--repo", repoPath);
        Assert.Equal(1, code);
        Assert.Equal("", stderr);
        (code, stderr) = WalTestSegments.RunEntryPoint("get", first[0], dest, "--repo", repoPath);
        Assert.True(code == 0, stderr);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // chown, mode 0600: the test clusters are Linux-only
    public async Task PostgreSQL_archives_through_pgbt_wal_into_an_encrypted_repository_with_a_key_file()
    {
        string repoPath = Path.Combine(_temp.Path, "repo");
        string keyFile = Path.Combine(_temp.Path, "wal.key");
        File.WriteAllText(keyFile, "server key file passphrase 41\n");
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using (await BackupRepository.OpenAsync(repoPath, create: true, CancellationToken.None, PgBackupTools.Core.Streams.Encryption.PassphraseSource.FromKeyFile(keyFile))) { }
        PgTestCluster.GiveToServerUser(_temp.Path); // the key file too: owned by the server's OS user, still 0600
        string command = WalCommands.ArchiveCommand(WalTestSegments.EntryPoint, repoPath, "main", keyFile);
        Assert.Contains("--passphrase-file", command);
        using var cluster = PgTestCluster.Start($"archive_mode = on\narchive_command = {ConfigurationFileSyntax.Quote(command)}\n");

        var names = SwitchWal(cluster, 2);
        WaitFor(cluster, () => ArchivedUpTo(cluster, names[^1]), "segments to be archived into the encrypted repository");
        using var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None, PgBackupTools.Core.Streams.Encryption.PassphraseSource.FromKeyFile(keyFile));
        var archive = new WalArchive(repo, "main");
        foreach (var name in names)
        {
            string dest = Path.Combine(_temp.Path, "fetched-" + name);
            var fetched = await archive.GetAsync(name, dest, new WalGetOptions(), OperationContext.None);
            Assert.True(fetched!.Encrypted);
            Assert.Equal(File.ReadAllBytes(Path.Combine(cluster.DataDirectory, "pg_wal", name)), File.ReadAllBytes(dest));
        }
    }

    private static List<string> SwitchWal(PgTestCluster cluster, int count)
    {
        cluster.Psql("CREATE TABLE IF NOT EXISTS wal_gen(x int)");
        var names = new List<string>();
        for (int i = 0; i < count; i++)
        {
            names.Add(cluster.Psql("INSERT INTO wal_gen SELECT generate_series(1, 1000); SELECT pg_walfile_name(pg_current_wal_lsn())"));
            cluster.Psql("SELECT pg_switch_wal()");
        }
        return names;
    }

    private static bool ArchivedUpTo(PgTestCluster cluster, string name) =>
        string.CompareOrdinal(cluster.Psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"), name) >= 0;

    private static void WaitFor(PgTestCluster cluster, Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(60))
                throw new TimeoutException($"Timed out waiting for {what}: {cluster.Psql("SELECT row_to_json(a) FROM pg_stat_archiver a")}\n{File.ReadAllText(cluster.LogFile)}");
            Thread.Sleep(200);
        }
    }

    public void Dispose() => _temp.Dispose();
}
