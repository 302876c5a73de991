using PgBackupTools.Core.Monitoring;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Tests.Monitoring;

public sealed class PrometheusExpositionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static PgBackupStatus Status(string database, int tables)
    {
        var status = new PgBackupStatus { Stanza = "main", Database = database, CheckedAt = DateTimeOffset.UtcNow };
        for (int i = 0; i < tables; i++)
            status.LastBackups.Add(new PgLastBackup { Type = BackupType.Logical, BackupId = $"b{i}", EndTime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 + i), SizeBytes = i });
        RecoveryObjectives.Evaluate(status, new ObjectiveTargets());
        return status;
    }

    [Fact]
    public void Escapes_label_values_and_writes_each_help_and_type_once()
    {
        var text = PrometheusExposition.Render([Status("we\"ird\\name\nx", 1), Status("app", 1)], DateTimeOffset.FromUnixTimeSeconds(1_700_000_100));
        Assert.Contains("database=\"we\\\"ird\\\\name\\nx\"", text);
        Assert.Single(text.Split('\n'), l => l == "# TYPE postgres_backup_last_success_timestamp_seconds gauge");
        Assert.Contains("postgres_backup_last_success_timestamp_seconds{stanza=\"main\",database=\"app\",type=\"Logical\"} 1700000000\n", text);
        Assert.Contains("postgres_backup_metrics_generated_timestamp_seconds 1700000100\n", text);
        // No verdict without evidence: a status without a test restore has rto not met.
        Assert.Contains("postgres_backup_objective_met{stanza=\"main\",database=\"app\",objective=\"rto\"} 0\n", text);
        Assert.EndsWith("\n", text);
    }

    [Fact]
    public void A_reader_sees_the_old_file_or_the_new_one_never_a_part()
    {
        string path = Path.Combine(_dir.Path, "pgbackup.prom");
        // Two contents of very different sizes (a torn read of either would be caught).
        string small = PrometheusExposition.Render([Status("small", 1)], DateTimeOffset.UnixEpoch);
        string large = PrometheusExposition.Render(Enumerable.Range(0, 200).Select(i => Status("db" + i, 20)).ToList(), DateTimeOffset.UnixEpoch);
        Assert.True(large.Length > 100 * small.Length);
        PrometheusExposition.WriteFile(path, small);
        using var stop = new CancellationTokenSource();
        int reads = 0;
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                string seen = File.ReadAllText(path);
                Assert.True(seen == small || seen == large, $"a reader saw {seen.Length} characters, neither file");
                reads++;
            }
        });
        for (int i = 0; i < 100; i++) PrometheusExposition.WriteFile(path, i % 2 == 0 ? large : small);
        stop.Cancel();
        reader.GetAwaiter().GetResult();
        Assert.True(reads > 0);
        Assert.Equal(small, File.ReadAllText(path));
        Assert.Equal(["pgbackup.prom"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_write_that_fails_halfway_leaves_the_old_file_and_no_temp_file()
    {
        string path = Path.Combine(_dir.Path, "pgbackup.prom");
        PrometheusExposition.WriteFile(path, "old 1\n");
        Assert.Throws<IOException>(() => AtomicFileWriter.Write(path, overwrite: true, stream =>
        {
            stream.Write("# HELP half"u8);
            throw new IOException("disk full");
        }, worldReadable: true));
        Assert.Equal("old 1\n", File.ReadAllText(path));
        Assert.Equal(["pgbackup.prom"], Directory.GetFiles(_dir.Path).Select(Path.GetFileName));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(path));
    }
}
