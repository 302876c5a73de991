using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// Snapshots of a set of volumes taken together: all or none. A failure on one volume deletes what the set already
/// made (found by the set's backup-id tag too, so a snapshot whose create response was lost goes as well) and throws
/// an error that names the volume.
/// </summary>
public static class SnapshotSet
{
    /// <summary>
    /// Starts a snapshot of every volume, one after the other, and waits until each one's point in time is fixed.
    /// Returns when writes to the volumes no longer reach the snapshots (for a consistent backup: when
    /// pg_backup_stop may run).
    /// </summary>
    public static async Task<List<PgVolumeSnapshot>> StartAsync(ISnapshotProvider provider, IReadOnlyList<string> volumes, string setId,
        IReadOnlyDictionary<string, string> tags, OperationContext context)
    {
        var ct = context.CancellationToken;
        var made = new List<PgVolumeSnapshot>();
        for (int i = 0; i < volumes.Count; i++)
        {
            string volume = volumes[i];
            var volumeTags = new Dictionary<string, string>(tags)
            {
                [SnapshotTags.Name] = $"pgbt {setId} {volume}".Length <= 255 ? $"pgbt {setId} {volume}" : $"pgbt {setId}",
                [SnapshotTags.BackupId] = setId,
                [SnapshotTags.SetMember] = $"{i + 1}-of-{volumes.Count}",
            };
            try
            {
                context.Log($"Snapshot {i + 1} of {volumes.Count}: volume {volume} in {provider.Location}.");
                var snapshot = await provider.CreateSnapshotAsync(volume, volumeTags, $"{setId}-{i + 1}", ct).ConfigureAwait(false);
                made.Add(snapshot);
                snapshot = await provider.WaitForPointInTimeAsync(snapshot, ct).ConfigureAwait(false);
                made[^1] = snapshot;
                if (snapshot.Failed) throw new PgBackupException(FailureKind.OperationFailed, $"Snapshot {snapshot.SnapshotId} of volume {volume} failed: {snapshot.State}.", volume);
                context.Log($"Snapshot {snapshot.SnapshotId} of volume {volume} started ({snapshot.State}).");
            }
            catch (Exception e)
            {
                await AbandonAsync(provider, setId, made, context).ConfigureAwait(false);
                if (e is OperationCanceledException) throw;
                throw new PgBackupException(e is PgBackupException pg ? pg.Kind : FailureKind.OperationFailed,
                    $"The snapshot of volume {volume} ({i + 1} of {volumes.Count}) failed, so snapshot set {setId} was abandoned and its {made.Count} snapshot(s) deleted: {e.Message}",
                    volume, e);
            }
        }
        return made;
    }

    /// <summary>
    /// Polls until every snapshot completed, with backoff (1 s doubling up to <see cref="SnapshotTarget.MaxPollInterval"/>)
    /// and progress. A snapshot that fails, or a timeout, throws naming the volume; the caller abandons the set.
    /// </summary>
    public static async Task<List<PgVolumeSnapshot>> WaitForCompletionAsync(ISnapshotProvider provider, List<PgVolumeSnapshot> snapshots,
        SnapshotTarget timing, string activity, OperationContext context)
    {
        var ct = context.CancellationToken;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var delay = TimeSpan.FromSeconds(1);
        var current = snapshots.ToList();
        while (true)
        {
            for (int i = 0; i < current.Count; i++)
            {
                if (current[i].Completed) continue;
                current[i] = await provider.GetSnapshotAsync(current[i].SnapshotId, ct).ConfigureAwait(false);
                if (current[i].Failed)
                    throw new PgBackupException(FailureKind.OperationFailed, $"Snapshot {current[i].SnapshotId} of volume {current[i].VolumeId} failed: {current[i].State}.", current[i].VolumeId);
            }
            int done = current.Count(s => s.Completed);
            int percent = current.Count == 0 ? 100 : (int)current.Average(s => s.Completed ? 100 : Math.Clamp(s.Progress, 0, 99));
            context.Progress?.Report(new TransferProgress(activity, $"{done} of {current.Count} snapshots completed, {percent} %", 0, null, 0) { Percent = Math.Min(percent, 99) });
            if (done == current.Count) return current;
            if (clock.Elapsed > timing.CompletionTimeout)
            {
                var late = current.First(s => !s.Completed);
                throw new PgBackupException(FailureKind.OperationFailed,
                    $"Snapshot {late.SnapshotId} of volume {late.VolumeId} did not complete within {timing.CompletionTimeout.TotalMinutes:F0} min ({late.State}, {late.Progress} %).", late.VolumeId);
            }
            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, timing.MaxPollInterval.Ticks));
        }
    }

    /// <summary>
    /// Deletes the snapshots of an unfinished set, best effort and without the caller's token (a cancelled backup
    /// must still clean up): those it knows, and any others tagged with the set id. What cannot be deleted is named
    /// in a warning; it keeps its pgbt-backup-id tag and no manifest refers to it.
    /// </summary>
    public static async Task AbandonAsync(ISnapshotProvider provider, string setId, IEnumerable<PgVolumeSnapshot> known, OperationContext context)
    {
        var ids = known.Select(s => s.SnapshotId).ToHashSet(StringComparer.Ordinal);
        try
        {
            foreach (var s in await provider.ListSnapshotsAsync(new Dictionary<string, string> { [SnapshotTags.BackupId] = setId }, CancellationToken.None).ConfigureAwait(false))
                ids.Add(s.SnapshotId);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            context.Warn($"Could not list the snapshots of the unfinished set {setId} in {provider.Location} ({e.Message}); deleting the ones known.");
        }
        foreach (var id in ids)
        {
            try
            {
                await provider.DeleteSnapshotAsync(id, CancellationToken.None).ConfigureAwait(false);
                context.Log($"Deleted snapshot {id} of the unfinished set {setId}.");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                context.Warn($"Could not delete snapshot {id} of the unfinished set {setId} ({e.Message}). Delete it by hand; no backup refers to it.");
            }
        }
    }
}
