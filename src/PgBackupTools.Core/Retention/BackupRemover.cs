using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Retention;

/// <summary>
/// Deletes backups in an order that survives interruption: the manifest first (from then on the backup does not
/// exist and is never listed or restored), then its files. Whatever an interruption leaves behind is a folder
/// without a manifest, which <see cref="RemoveLeftoversAsync"/> cleans up on a later run.
/// </summary>
public static class BackupRemover
{
    /// <summary>
    /// Remove-PgBackup's default -GracePeriod: how old the remains of an unfinished backup (its newest object, which for a
    /// running physical backup is its in-progress marker's last heartbeat) must be before they count as abandoned.
    /// </summary>
    public static readonly TimeSpan DefaultGracePeriod = TimeSpan.FromDays(1);

    public static async Task RemoveAsync(BackupRepository repository, PgBackup backup, CancellationToken cancellationToken)
    {
        await repository.Store.DeleteAsync(BackupRepository.BackupFileKey(backup.Stanza, backup.Id, BackupRepository.ManifestName), cancellationToken).ConfigureAwait(false);
        await repository.DeleteUncommittedAsync(backup.Stanza, backup.Id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Backup folders without a manifest (unfinished or half-deleted) whose newest object is older than <paramref name="gracePeriod"/>.
    /// A running physical or snapshot backup rewrites its in-progress marker every minute, so its folder never qualifies.
    /// </summary>
    public static async Task<IReadOnlyList<(string Stanza, string Id, DateTimeOffset LastWrite)>> FindLeftoversAsync(BackupRepository repository,
        string? stanza, TimeSpan gracePeriod, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var folders = new Dictionary<(string Stanza, string Id), (bool HasManifest, DateTimeOffset LastWrite)>();
        string prefix = stanza is null ? "backups/" : $"backups/{RepositoryNames.ValidateStanza(stanza)}/";
        await foreach (var obj in repository.Store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            var parts = obj.Key.Split('/');
            if (parts.Length < 4) continue;
            var key = (parts[1], parts[2]);
            var current = folders.TryGetValue(key, out var f) ? f : (false, DateTimeOffset.MinValue);
            folders[key] = (current.Item1 || (parts.Length == 4 && parts[3] == BackupRepository.ManifestName),
                obj.LastModified > current.Item2 ? obj.LastModified : current.Item2);
        }
        return folders.Where(f => !f.Value.HasManifest && now - f.Value.LastWrite > gracePeriod)
            .Select(f => (f.Key.Stanza, f.Key.Id, f.Value.LastWrite)).OrderBy(f => f.Id, StringComparer.Ordinal).ToList();
    }

    public static Task RemoveLeftoverAsync(BackupRepository repository, string stanza, string id, CancellationToken cancellationToken) =>
        repository.DeleteUncommittedAsync(stanza, id, cancellationToken);
}
