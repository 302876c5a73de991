using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Retention;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Tests.Retention;

[Collection("cluster")]
public sealed class BackupRemoverTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _repoDir = new();
    private readonly OperationContext _context = new();

    public void Dispose() => _repoDir.Dispose();

    [Fact]
    public async Task An_interrupted_removal_leaves_no_listed_backup_and_a_later_run_cleans_up()
    {
        var db = fixture.CreateAuditDatabase(rows: 100);
        var repo = await BackupRepository.OpenAsync(_repoDir.Path, create: true, default);
        var old = await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db }, _context);
        var kept = await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db }, _context);

        // The first step of a removal, then the process dies: the manifest is gone, the data is not.
        await repo.Store.DeleteAsync(BackupRepository.BackupFileKey(old.Stanza, old.Id, BackupRepository.ManifestName), default);
        Assert.Equal([kept.Id], (await repo.ListBackupsAsync(null, _context)).Select(b => b.Id));
        var folder = Path.Combine(_repoDir.Path, "backups", "main", old.Id);
        Assert.True(Directory.Exists(folder));

        Assert.Empty(await BackupRemover.FindLeftoversAsync(repo, null, TimeSpan.FromHours(1), DateTimeOffset.UtcNow, default));
        var leftovers = await BackupRemover.FindLeftoversAsync(repo, null, TimeSpan.FromHours(1), DateTimeOffset.UtcNow.AddHours(2), default);
        Assert.Equal([old.Id], leftovers.Select(l => l.Id));
        await BackupRemover.RemoveLeftoverAsync(repo, "main", old.Id, default);
        Assert.False(Directory.Exists(folder));

        await BackupRemover.RemoveAsync(repo, kept, default);
        Assert.Empty(await repo.ListBackupsAsync(null, _context));
        Assert.False(Directory.Exists(Path.Combine(_repoDir.Path, "backups", "main", kept.Id)));
    }

    [Theory]
    [InlineData(DumpFormat.Custom)]
    [InlineData(DumpFormat.Directory)]
    public async Task A_cleanup_of_leftovers_that_runs_while_a_backup_is_unfinished_makes_the_backup_fail_never_commit_over_missing_files(DumpFormat format)
    {
        var db = fixture.CreateAuditDatabase(rows: 500);
        // A retention run (Remove-PgBackup -KeepLast, whose -GracePeriod a long dump outlasted) takes the backup's
        // committed files for the remains of an unfinished one, before the backup writes its manifest.
        var store = new RetentionRunsBeforeTheManifest(new FileSystemStore(_repoDir.Path));
        using var repo = await BackupRepository.OpenAsync(store, create: true, default);

        var e = await Assert.ThrowsAsync<PgBackupException>(() =>
            LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db, Format = format }, _context));
        Assert.True(store.Removed > 0);
        Assert.Contains("database.", e.Message);
        Assert.Contains("retention", e.Message);
        Assert.Empty(await repo.ListBackupsAsync(null, _context));

        store.Enabled = false;
        var next = await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db, Format = format }, _context);
        Assert.Equal([next.Id], (await repo.ListBackupsAsync(null, _context)).Select(b => b.Id));
    }

    /// <summary>A real file system store on which a leftover cleanup with no grace period runs as the backup looks at its folder to commit.</summary>
    private sealed class RetentionRunsBeforeTheManifest(IObjectStore inner) : IObjectStore
    {
        public bool Enabled { get; set; } = true;
        public int Removed { get; private set; }
        public string Location => inner.Location;

        public Task<ObjectWriteStream> CreateAsync(string key, bool overwrite, CancellationToken ct) => inner.CreateAsync(key, overwrite, ct);

        // The backup's last look at its own folder before it commits: the latest moment a concurrent run can strike
        // and still be seen (between that look and the manifest a window of one call stays; see the report).
        public async IAsyncEnumerable<StoredObjectInfo> ListAsync(string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            if (Enabled && prefix.StartsWith("backups/", StringComparison.Ordinal) && prefix.Count(c => c == '/') == 3)
            {
                Enabled = false;
                using var other = await BackupRepository.OpenAsync(inner.Location, create: false, ct);
                foreach (var (stanza, id, _) in await BackupRemover.FindLeftoversAsync(other, null, TimeSpan.Zero, DateTimeOffset.UtcNow.AddSeconds(1), ct))
                {
                    await BackupRemover.RemoveLeftoverAsync(other, stanza, id, ct);
                    Removed++;
                }
            }
            await foreach (var obj in inner.ListAsync(prefix, ct)) yield return obj;
        }

        public Task<Stream> OpenReadAsync(string key, CancellationToken ct) => inner.OpenReadAsync(key, ct);
        public Task<StoredObjectInfo?> GetInfoAsync(string key, CancellationToken ct) => inner.GetInfoAsync(key, ct);
        public Task DeleteAsync(string key, CancellationToken ct) => inner.DeleteAsync(key, ct);
        public string? TryGetLocalPath(string key) => inner.TryGetLocalPath(key);
    }
}
