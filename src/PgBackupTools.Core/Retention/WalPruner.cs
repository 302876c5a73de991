using System.Diagnostics;
using System.Text.Json;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Retention;

/// <summary>
/// Prunes a stanza's WAL archive after a retention policy ran: plans from the repository as it is (every manifest of
/// the stanza read, none skipped) and deletes through <see cref="IObjectStore"/> only, so it works on every store.
/// </summary>
public static class WalPruner
{
    /// <summary>
    /// Plans the prune of <paramref name="stanza"/>. The kept backups are the stanza's committed backups minus
    /// <paramref name="assumeRemoved"/> (the ids a -WhatIf run would have removed), so -WhatIf names exactly what a real
    /// run deletes. A manifest that cannot be read stops the plan: its backup might need WAL, so nothing is deleted.
    /// Running backups count through their in-progress markers: a live one holds the WAL from its start; one that cannot
    /// be read or verified stops the plan like a manifest; one whose heartbeat (its LastModified) is older than
    /// <paramref name="gracePeriod"/> belongs to a backup that died, is ignored, and the plan says so (the leftover
    /// cleanup removes its folder).
    /// <para>
    /// A backup that starts while this runs is safe without a lock. It writes its marker before it asks the server to
    /// start, with a lower bound of its start (the last checkpoint's redo point). If the listing below missed that
    /// marker, the backup asked the server to start after the listing began, so its start LSN is at or after the
    /// server's insert position then; every kept backup listed started before that (or committed during the listing,
    /// after it wrote its own marker: see below), so the cut, the oldest kept start, is at or before the new backup's
    /// start segment and nothing it needs is deleted, whether or not that segment is archived yet. (The segment holding
    /// a start LSN is the server's current one when pg_backup_start returns, but a concurrent pg_switch_wal or
    /// archive_timeout can archive it at once: the argument does not rely on it staying unarchived.)
    /// The one gap is a listing that is not a snapshot (S3, Azure: pages): it can pass a backup's folder before its marker
    /// is written and, later, list the manifest of a backup that started after it and committed during the listing,
    /// whose start is newer. So the markers are listed a second time after the plan is made, and the plan is made again
    /// with any that appeared; a marker written after that second listing began belongs to a backup that started after
    /// every manifest planned with was written. A marker that is gone when it is read means its backup committed (its
    /// manifest is read instead) or failed.
    /// </para>
    /// </summary>
    public static async Task<WalPrunePlan> PlanAsync(BackupRepository repository, string stanza, IReadOnlySet<string> assumeRemoved, CancellationToken ct,
        TimeSpan? gracePeriod = null, DateTimeOffset? now = null)
    {
        var archive = new WalArchive(repository, stanza);
        var binding = await archive.ReadBindingAsync(ct).ConfigureAwait(false);
        if (binding is null) return WalPrunePlan.Nothing(stanza, $"Stanza '{stanza}' has no WAL archive in {repository.Location}: no WAL to prune.");
        var grace = gracePeriod ?? BackupRemover.DefaultGracePeriod;

        var state = new PlanInputs();
        if (await ReadBackupsAndMarkersAsync(repository, archive.Stanza, state, grace, now ?? DateTimeOffset.UtcNow, ct).ConfigureAwait(false) is { } refused)
            return WalPrunePlan.Refused(stanza, refused);
        var files = await archive.ListAsync(ct).ConfigureAwait(false);
        int runningBefore = state.Running.Count;
        int backupsBefore = state.Backups.Count;
        // The second listing: markers (and the manifests of backups that committed meanwhile) that the first one missed.
        if (await ReadBackupsAndMarkersAsync(repository, archive.Stanza, state, grace, now ?? DateTimeOffset.UtcNow, ct).ConfigureAwait(false) is { } refusedLater)
            return WalPrunePlan.Refused(stanza, refusedLater);
        var plan = WalPrunePlanner.Plan(archive.Stanza, files, binding.WalSegmentSize, state.Backups.Where(b => !assumeRemoved.Contains(b.Id)), state.Running.Values);
        if (state.Running.Count > runningBefore || state.Backups.Count > backupsBefore)
            plan = plan with { Explanation = plan.Explanation + $" ({state.Running.Count - runningBefore + state.Backups.Count - backupsBefore} backup(s) started or finished while the prune was planned, and count.)" };
        return state.Notes.Count == 0 ? plan : plan with { Explanation = plan.Explanation + " " + string.Join(" ", state.Notes), Warnings = state.Notes };
    }

    private sealed class PlanInputs
    {
        public List<PgBackup> Backups { get; } = [];
        public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, BackupInProgressMarker> Running { get; } = new(StringComparer.Ordinal);
        public List<string> Notes { get; } = [];
    }

    /// <summary>One listing of the stanza's backup folders into <paramref name="state"/>; a reason to prune nothing, or null.</summary>
    private static async Task<string?> ReadBackupsAndMarkersAsync(BackupRepository repository, string stanza, PlanInputs state, TimeSpan gracePeriod, DateTimeOffset now,
        CancellationToken ct)
    {
        var manifests = new HashSet<string>(StringComparer.Ordinal);
        var markers = new List<StoredObjectInfo>();
        await foreach (var obj in repository.Store.ListAsync($"backups/{stanza}/", ct).ConfigureAwait(false))
        {
            if (BackupRepository.IsManifestKey(obj.Key)) manifests.Add(obj.Key.Split('/')[2]);
            else if (BackupInProgressMarker.IsMarkerKey(obj.Key)) markers.Add(obj);
        }
        // The second time only the manifests written since (backups that committed while this planned) are new.
        foreach (var id in manifests)
            if (await AddBackupAsync(repository, stanza, id, state, ct).ConfigureAwait(false) is { } refused) return refused;
        foreach (var obj in markers)
        {
            string id = obj.Key.Split('/')[2];
            // Beside a manifest the backup is committed: the manifest says what it needs (and stays until it is removed).
            if (manifests.Contains(id) || state.Seen.Contains(id)) continue;
            if (now - obj.LastModified > gracePeriod)
            {
                state.Seen.Add(id);
                state.Notes.Add($"Ignored {obj.Key}: its last heartbeat was at {obj.LastModified:u}, longer ago than the {gracePeriod} grace period, so its backup is no longer running (Remove-PgBackup -KeepLast/-RetentionDays removes such folders).");
                continue;
            }
            BackupInProgressMarker? marker;
            try
            {
                marker = await BackupInProgressMarker.ReadAsync(repository, obj.Key, ct).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                return $"The in-progress marker {obj.Key} is not readable ({e.Message}); the backup it stands for may be running and need WAL, so no WAL of stanza '{stanza}' is pruned. " +
                    $"If no backup {id} is running, remove the folder backups/{stanza}/{id} (Remove-PgBackup -KeepLast/-RetentionDays does once it is older than -GracePeriod).";
            }
            if (marker is null)
            {
                // Gone since it was listed: the backup committed (its manifest is written before its marker goes) or failed.
                if (await AddBackupAsync(repository, stanza, id, state, ct).ConfigureAwait(false) is { } refused) return refused;
                continue;
            }
            if (marker.BackupId != id || marker.Stanza != stanza)
                return $"The in-progress marker {obj.Key} names backup {marker.BackupId} of stanza '{marker.Stanza}': it was copied or moved, so what it protects is unclear and no WAL of stanza '{stanza}' is pruned. Remove the folder backups/{stanza}/{id} if no backup {id} is running.";
            state.Seen.Add(id);
            state.Running[id] = marker;
        }
        return null;
    }

    private static async Task<string?> AddBackupAsync(BackupRepository repository, string stanza, string id, PlanInputs state, CancellationToken ct)
    {
        if (state.Backups.Any(b => b.Id == id)) return null;
        try
        {
            state.Backups.Add(await repository.GetBackupAsync(stanza, id, ct).ConfigureAwait(false));
            state.Running.Remove(id);
            state.Seen.Add(id);
        }
        catch (PgBackupException e) when (e.Kind == FailureKind.NotFound)
        {
            // Removed since it was listed (or never committed): it no longer exists and needs nothing.
        }
        catch (JsonException e)
        {
            return $"The manifest {BackupRepository.BackupFileKey(stanza, id, BackupRepository.ManifestName)} is not readable ({e.Message}); the WAL its backup needs is unknown, so no WAL of stanza '{stanza}' is pruned. Repair or remove that backup.";
        }
        return null;
    }

    /// <summary>
    /// Deletes the files of one range, oldest first: an interruption leaves the newest of them, never a hole before
    /// WAL that is kept, and a later run plans the rest again.
    /// </summary>
    public static async Task RemoveAsync(IObjectStore store, string stanza, WalPruneRange range, OperationContext context)
    {
        long done = 0, total = range.StoredBytes;
        var started = Stopwatch.GetTimestamp();
        foreach (var file in range.Files)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            await store.DeleteAsync(file.Key, context.CancellationToken).ConfigureAwait(false);
            done += file.StoredBytes;
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            context.Progress?.Report(new TransferProgress($"Pruning WAL of stanza '{stanza}'", file.Name.Name, done, total, seconds > 0 ? done / seconds : 0));
        }
    }
}
