using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;

namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// Deletes snapshots, and then the catalog entry of the Snapshot backup they make up: the one path Remove-PgBackup and
/// Remove-PgVolumeSnapshot share. The snapshots go first, so a provider failure never leaves billed snapshots that no
/// catalog entry names any more: the entry stays until every snapshot is gone, and running the removal again finishes
/// it (a snapshot already gone counts as deleted).
/// </summary>
public static class SnapshotBackupRemover
{
    /// <summary>
    /// Deletes <paramref name="snapshots"/> in order through <paramref name="providerFor"/>, calling
    /// <paramref name="deleted"/> after each; then, if <paramref name="backup"/> is given, removes it from
    /// <paramref name="repository"/>'s catalog. A failed delete throws naming the snapshot, its volume and provider,
    /// and what to do; nothing after it is touched.
    /// </summary>
    public static async Task RemoveAsync(IReadOnlyList<PgVolumeSnapshot> snapshots, Func<PgVolumeSnapshot, ISnapshotProvider> providerFor,
        BackupRepository? repository, PgBackup? backup, Action<PgVolumeSnapshot>? deleted, OperationContext context)
    {
        var ct = context.CancellationToken;
        for (int i = 0; i < snapshots.Count; i++)
        {
            var s = snapshots[i];
            ISnapshotProvider? provider = null;
            try
            {
                provider = providerFor(s);
                await provider.DeleteSnapshotAsync(s.SnapshotId, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
            {
                throw new PgBackupException(e is PgBackupException pg ? pg.Kind : FailureKind.OperationFailed, FailureSentence(s, provider, backup, i, snapshots.Count, e), s.SnapshotId, e);
            }
            context.Log($"Deleted snapshot {s.SnapshotId} of volume {s.VolumeId} in {provider!.Location}.");
            deleted?.Invoke(s);
        }
        if (backup is null || repository is null) return;
        await BackupRemover.RemoveAsync(repository, backup, ct).ConfigureAwait(false);
        context.Log($"Removed Snapshot backup {backup.Id} from the catalog of {repository.Location}.");
    }

    private static string FailureSentence(PgVolumeSnapshot s, ISnapshotProvider? provider, PgBackup? backup, int alreadyDeleted, int count, Exception e)
    {
        string where = provider?.Location ?? $"{s.Provider}" + (s.Region is null ? "" : $" {s.Region}") + (s.Endpoint is null ? "" : $" at {s.Endpoint}");
        string what = $"Could not delete snapshot {s.SnapshotId} of volume {s.VolumeId} ({s.Provider}, {where}): {e.Message.TrimEnd('.')}.";
        string state = backup is null ? ""
            : alreadyDeleted == 0
                ? $" Snapshot backup {backup.Id} stays in the catalog with all {count} snapshot(s), so none is orphaned."
                : $" Snapshot backup {backup.Id} stays in the catalog so its remaining snapshots are not orphaned; {alreadyDeleted} of its {count} snapshot(s) are already deleted, so it can no longer be restored.";
        string todo = s.Provider switch
        {
            SnapshotProvider.Aws => "AWS credentials (environment, AWS_PROFILE, instance role) allowed to ec2:DeleteSnapshot in that region",
            SnapshotProvider.Gcp => "GCP application default credentials allowed to compute.snapshots.delete in that project",
            _ => "an Azure identity (managed identity, workload identity, AZURE_CLIENT_* or az login) allowed Microsoft.Compute/snapshots/delete",
        };
        return what + state + $" Check the provider is reachable and {todo}, then run the removal again: snapshots already gone count as deleted.";
    }
}
