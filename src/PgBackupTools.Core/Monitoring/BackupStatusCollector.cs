using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Monitoring;

/// <summary>
/// Builds Get-PgBackupStatus's objects from what the repository holds (manifests, test records, archived WAL) and,
/// when a server is given, what it says (pg_stat_archiver, current WAL position). One status per stanza for the
/// cluster (physical backups and WAL; Database null) and one per database with logical backups.
/// </summary>
public static class BackupStatusCollector
{
    public static async Task<List<PgBackupStatus>> CollectAsync(BackupRepository repository, StatusOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        var now = DateTimeOffset.UtcNow;
        var backups = await repository.ListBackupsAsync(options.Stanza, context).ConfigureAwait(false);
        var tests = await BackupTestRecords.ListAsync(repository, options.Stanza, context).ConfigureAwait(false);
        ServerWalPosition? server = null;
        if (options.Server is not null)
        {
            context.Log($"Reading pg_stat_archiver and the WAL position of {options.Server.Server}.");
            server = await ServerWalPosition.ReadAsync(options.Server, ct).ConfigureAwait(false);
        }
        var stanzas = new SortedSet<string>(backups.Select(b => b.Stanza), StringComparer.Ordinal);
        if (options.Stanza is not null) stanzas.Add(RepositoryNames.ValidateStanza(options.Stanza));
        else await foreach (var stanza in ListWalStanzasAsync(repository, ct).ConfigureAwait(false)) stanzas.Add(stanza);
        if (stanzas.Count == 0) stanzas.Add(WalArchive.DefaultStanza);

        var bindings = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var stanza in stanzas)
            bindings[stanza] = (await new WalArchive(repository, stanza).ReadBindingAsync(ct).ConfigureAwait(false))?.SystemIdentifier;
        string? serversStanza = server is null ? null : FindServersStanza(options.Stanza, bindings, server.SystemIdentifier);
        if (serversStanza is not null) stanzas.Add(serversStanza);

        var statuses = new List<PgBackupStatus>();
        foreach (var stanza in stanzas)
        {
            var archive = new WalArchive(repository, stanza);
            bool isServers = stanza == serversStanza;
            var wal = await WalStatusReader.ReadAsync(archive, isServers ? server : null, now, ct).ConfigureAwait(false);

            var ofStanza = backups.Where(b => b.Stanza == stanza).ToList();
            var scopes = new SortedSet<string>(ofStanza.Where(b => b.Type == BackupType.Logical && b.Database is not null).Select(b => b.Database!), StringComparer.Ordinal);
            // The cluster first: its WAL archive and physical backups may recover the databases too (their RPO). With
            // -Database it is measured for that, but not written.
            PgBackupStatus? clusterStatus = null;
            foreach (var database in (options.Database is null ? scopes.Cast<string?>() : [options.Database]).Prepend(null))
            {
                var inScope = ofStanza.Where(b => database is null ? b.Type != BackupType.Logical : b.Type == BackupType.Logical && b.Database == database).ToList();
                if (database is null && inScope.Count == 0 && wal is null && scopes.Count > 0) continue; // a logical-only stanza has no cluster row
                var status = new PgBackupStatus
                {
                    Repository = repository.Location, Stanza = stanza, Database = database, CheckedAt = now,
                    Wal = database is null ? wal : null,
                };
                foreach (var kind in inScope.GroupBy(b => b.Type).OrderBy(g => g.Key))
                {
                    var last = kind.OrderBy(b => b.EndTime).Last();
                    status.LastBackups.Add(new PgLastBackup
                    {
                        Type = kind.Key, BackupId = last.Id, StartTime = last.StartTime, EndTime = last.EndTime, Age = Positive(now - last.EndTime),
                        SizeBytes = last.SizeBytes, StoredBytes = last.StoredBytes, Duration = last.Duration,
                    });
                }
                var lastTest = tests.Where(t => t.Result.RestoreRequested && StanzaOf(t.Key) == stanza && t.Result.Database == database)
                    .OrderBy(t => t.Result.StartTime).LastOrDefault();
                if (lastTest is not null)
                {
                    status.LastTestRestore = lastTest.Result;
                    status.LastTestRestoreAuthenticated = lastTest.Authenticated;
                }
                RecoveryObjectives.Evaluate(status, options.Targets, clusterStatus);
                if (database is null) clusterStatus = status;
                if (database is not null || options.Database is null) statuses.Add(status);
            }
        }
        if (server is not null && serversStanza is null)
            context.Warn($"{server.Server} (cluster {server.SystemIdentifier}) archives into none of the stanzas in {repository.Location}; its archiver status is not shown. Name its stanza with -Stanza.");
        return statuses;
    }

    /// <summary>
    /// The stanza a server's archiver status belongs to: the one named; else the one bound to its cluster; else, when
    /// nothing of it was ever archived (archive_command broken from the start), the default stanza if it is unbound.
    /// </summary>
    private static string? FindServersStanza(string? named, Dictionary<string, string?> bindings, string systemIdentifier)
    {
        if (named is not null) return RepositoryNames.ValidateStanza(named);
        var bound = bindings.FirstOrDefault(b => b.Value == systemIdentifier).Key;
        if (bound is not null) return bound;
        return bindings.TryGetValue(WalArchive.DefaultStanza, out var id) && id is not null ? null : WalArchive.DefaultStanza;
    }

    private static string StanzaOf(string recordKey) => recordKey.Split('/')[1];

    private static async IAsyncEnumerable<string> ListWalStanzasAsync(BackupRepository repository, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        string? previous = null;
        await foreach (var obj in repository.Store.ListAsync("wal/", ct).ConfigureAwait(false))
        {
            var parts = obj.Key.Split('/');
            if (parts.Length < 3 || parts[1] == previous) continue;
            previous = parts[1];
            yield return parts[1];
        }
    }

    private static TimeSpan Positive(TimeSpan value) => value < TimeSpan.Zero ? TimeSpan.Zero : value;
}
