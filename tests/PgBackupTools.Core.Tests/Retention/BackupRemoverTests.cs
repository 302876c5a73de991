using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;

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
}
