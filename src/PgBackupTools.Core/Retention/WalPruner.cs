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
    /// </summary>
    public static async Task<WalPrunePlan> PlanAsync(BackupRepository repository, string stanza, IReadOnlySet<string> assumeRemoved, CancellationToken ct)
    {
        var archive = new WalArchive(repository, stanza);
        var binding = await archive.ReadBindingAsync(ct).ConfigureAwait(false);
        if (binding is null) return WalPrunePlan.Nothing(stanza, $"Stanza '{stanza}' has no WAL archive in {repository.Location}: no WAL to prune.");

        var backups = new List<PgBackup>();
        await foreach (var obj in repository.Store.ListAsync($"backups/{archive.Stanza}/", ct).ConfigureAwait(false))
        {
            var parts = obj.Key.Split('/');
            if (parts.Length != 4 || parts[3] != BackupRepository.ManifestName) continue;
            try
            {
                backups.Add(await repository.GetBackupAsync(stanza, parts[2], ct).ConfigureAwait(false));
            }
            catch (PgBackupException e) when (e.Kind == FailureKind.NotFound)
            {
                // Removed since it was listed: it no longer exists and needs nothing.
            }
            catch (JsonException e)
            {
                return WalPrunePlan.Nothing(stanza, $"The manifest {obj.Key} is not readable ({e.Message}); the WAL its backup needs is unknown, so no WAL of stanza '{stanza}' is pruned. Repair or remove that backup.");
            }
        }
        var files = await archive.ListAsync(ct).ConfigureAwait(false);
        return WalPrunePlanner.Plan(archive.Stanza, files, binding.WalSegmentSize, backups.Where(b => !assumeRemoved.Contains(b.Id)));
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
