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
    public async Task A_reader_sees_the_old_file_or_the_new_one_never_a_part()
    {
        string path = Path.Combine(_dir.Path, "pgbackup.prom");
        // Two contents of very different sizes (a torn read of either would be caught).
        string small = PrometheusExposition.Render([Status("small", 1)], DateTimeOffset.UnixEpoch);
        string large = PrometheusExposition.Render(Enumerable.Range(0, 200).Select(i => Status("db" + i, 20)).ToList(), DateTimeOffset.UnixEpoch);
        Assert.True(large.Length > 100 * small.Length);
        PrometheusExposition.WriteFile(path, small);
        using var stop = new CancellationTokenSource();
        int reads = 0;
        var firstRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = Task.Factory.StartNew(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                string seen = File.ReadAllText(path);
                Assert.True(seen == small || seen == large, $"a reader saw {seen.Length} characters, neither file");
                Interlocked.Increment(ref reads);
                firstRead.TrySetResult();
            }
        }, TaskCreationOptions.LongRunning);
        await firstRead.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // Replace the file while the reader reads, until it has read during at least 50 replacements' time (or 2000 writes).
        int startReads = Volatile.Read(ref reads), writes = 0;
        while (writes < 100 || (Volatile.Read(ref reads) - startReads < 50 && writes < 2000))
            PrometheusExposition.WriteFile(path, writes++ % 2 == 0 ? large : small);
        if (writes % 2 == 1) PrometheusExposition.WriteFile(path, small);
        stop.Cancel();
        await reader;
        Assert.True(Volatile.Read(ref reads) - startReads > 0, "the reader never read while the file was being replaced");
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
