using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Monitoring;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Tests.Storage;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Verify;
using PgBackupTools.Core.Wal;
using PgBackupTools.Core.Wal.Streaming;

namespace PgBackupTools.Core.Tests.Monitoring;

/// <summary>
/// Get-PgBackupStatus and every Export-PgBackupMetric scrape pay per request on S3 and Azure: backups/ and wal/ are
/// listed once each, and no object is read twice. Counted on a real repository (a logical backup with a real test
/// restore, real WAL segments in two stanzas, a stream position) through a store that counts what it is asked.
/// </summary>
[Collection("cluster")]
public sealed class BackupStatusStoreCallsTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_status_lists_backups_and_wal_once_each_and_reads_each_object_once()
    {
        string path = Path.Combine(_temp.Path, "repo");
        string db = fixture.CreateAuditDatabase(rows: 100);
        using (var repo = await BackupRepository.OpenAsync(path, create: true, default))
        {
            var backup = await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db }, OperationContext.None);
            Assert.True((await BackupTestJob.RunAsync(repo, backup, fixture.Connection(), restore: true, [], OperationContext.None)).Passed);
            string copies = Path.Combine(_temp.Path, "segments");
            Directory.CreateDirectory(copies);
            var segments = WalTestSegments.CopyCompleted(fixture.Cluster, copies, 2);
            foreach (var stanza in new[] { "main", "other" })
                foreach (var segment in segments)
                    await new WalArchive(repo, stanza).PushAsync(segment, new WalPushOptions(), OperationContext.None);
            await new WalStreamState { FlushLsn = "0/3000100", Timeline = 1, Updated = DateTimeOffset.UtcNow }.WriteAsync(new WalArchive(repo, "main"), default);
        }

        var store = new CountingStore(new FileSystemStore(path));
        using (var repo = await BackupRepository.OpenAsync(store, create: false, default))
        {
            store.Reset();
            var statuses = await BackupStatusCollector.CollectAsync(repo, new StatusOptions(), OperationContext.None);

            Assert.Equal(["backups/", "wal/"], Calls(store, "list").Order(StringComparer.Ordinal));
            Assert.Empty(Calls(store, "read").GroupBy(k => k).Where(g => g.Count() > 1).Select(g => g.Key));
            Assert.Contains("wal/main/archive.json", Calls(store, "read"));
            Assert.Contains("wal/other/archive.json", Calls(store, "read"));
            Assert.Contains("wal/main/stream.json", Calls(store, "read"));
            Assert.DoesNotContain("wal/other/stream.json", Calls(store, "read")); // the listing shows there is none
            Assert.Contains(Calls(store, "read"), k => BackupRepository.IsManifestKey(k));
            Assert.Contains(Calls(store, "read"), k => BackupTestRecords.IsRecordKey(k));
            // What the calls were for: both stanzas' WAL, the stream, the backup and its test restore.
            var main = statuses.Single(s => s.Stanza == "main" && s.Database is null);
            Assert.Equal(2, main.Wal!.SegmentsInRepository);
            Assert.Equal("0/3000100", main.Wal.StreamedLsn);
            Assert.Equal(2, statuses.Single(s => s.Stanza == "other" && s.Database is null).Wal!.SegmentsInRepository);
            Assert.NotNull(statuses.Single(s => s.Database == db).LastTestRestore);

            // One stanza: only its folders are listed.
            store.Reset();
            var other = await BackupStatusCollector.CollectAsync(repo, new StatusOptions { Stanza = "other" }, OperationContext.None);
            Assert.Equal(["backups/other/", "wal/other/"], Calls(store, "list").Order(StringComparer.Ordinal));
            Assert.Equal(["wal/other/archive.json"], Calls(store, "read"));
            Assert.Equal(2, Assert.Single(other).Wal!.SegmentsInRepository);
        }
    }

    private static List<string> Calls(CountingStore store, string kind) =>
        [.. store.Calls.Where(c => c.StartsWith(kind + " ", StringComparison.Ordinal)).Select(c => c[(kind.Length + 1)..])];
}
