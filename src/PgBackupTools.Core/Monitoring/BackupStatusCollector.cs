using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Wal;
using PgBackupTools.Core.Wal.Streaming;

namespace PgBackupTools.Core.Monitoring;

/// <summary>
/// Builds Get-PgBackupStatus's objects from what the repository holds (manifests, test records, archived WAL) and,
/// when a server is given, what it says (pg_stat_archiver, current WAL position). One status per stanza for the
/// cluster (physical backups and WAL; Database null) and one per database with logical backups.
/// Every metrics scrape runs this, and on an object store every request costs: backups/ and wal/ are listed once each,
/// and each stanza's archive.json and stream.json read once, only when the listing shows them.
/// </summary>
public static class BackupStatusCollector
{
    public static async Task<List<PgBackupStatus>> CollectAsync(BackupRepository repository, StatusOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        var now = DateTimeOffset.UtcNow;
        var backupKeys = await repository.ListBackupKeysAsync(options.Stanza, key => BackupRepository.IsManifestKey(key) || BackupTestRecords.IsRecordKey(key), ct).ConfigureAwait(false);
        var backups = await repository.ReadBackupsAsync(backupKeys, context).ConfigureAwait(false);
        var tests = await BackupTestRecords.ReadAsync(repository, backupKeys, context).ConfigureAwait(false);
        ServerWalPosition? server = null;
        if (options.Server is not null)
        {
            context.Log($"Reading pg_stat_archiver and the WAL position of {options.Server.Server}.");
            server = await ServerWalPosition.ReadAsync(options.Server, ct).ConfigureAwait(false);
        }
        var walObjects = await ListWalAsync(repository, options.Stanza, ct).ConfigureAwait(false);
        var stanzas = new SortedSet<string>(backups.Select(b => b.Stanza), StringComparer.Ordinal);
        if (options.Stanza is not null) stanzas.Add(RepositoryNames.ValidateStanza(options.Stanza));
        else stanzas.UnionWith(walObjects.Keys);
        if (stanzas.Count == 0) stanzas.Add(WalArchive.DefaultStanza);

        var walRead = new Dictionary<string, StanzaWal>(StringComparer.Ordinal);
        async Task<StanzaWal> WalOf(string stanza)
        {
            if (!walRead.TryGetValue(stanza, out var read))
                walRead[stanza] = read = await StanzaWal.ReadAsync(new WalArchive(repository, stanza), walObjects.GetValueOrDefault(stanza), ct).ConfigureAwait(false);
            return read;
        }
        var bindings = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var stanza in stanzas)
            bindings[stanza] = (await WalOf(stanza).ConfigureAwait(false)).Binding?.SystemIdentifier;
        string? serversStanza = server is null ? null : FindServersStanza(options.Stanza, bindings, server.SystemIdentifier);
        if (serversStanza is not null) stanzas.Add(serversStanza);

        var statuses = new List<PgBackupStatus>();
        foreach (var stanza in stanzas)
        {
            bool isServers = stanza == serversStanza;
            var read = await WalOf(stanza).ConfigureAwait(false);
            var wal = WalStatusReader.Summarize(read.Archive, read.Binding, read.Files, read.Stream, isServers ? server : null, now);

            var ofStanza = backups.Where(b => b.Stanza == stanza).ToList();
            var scopes = new SortedSet<string>(ofStanza.Where(b => b.Type == BackupType.Logical && b.Database is not null).Select(b => b.Database!), StringComparer.Ordinal);
            // The cluster first: its WAL archive and physical backups may recover the databases too (their RPO). With
            // -Database it is measured for that, but not written.
            PgBackupStatus? clusterStatus = null;
            foreach (var database in (options.Database is null ? scopes.Cast<string?>() : [options.Database]).Prepend(null))
            {
                var inScope = ofStanza.Where(b => database is null ? b.Type != BackupType.Logical : b.Type == BackupType.Logical && b.Database == database).ToList();
                // A logical-only stanza has no cluster row, also when its server is given but does not archive at all
                // (archive_mode off, nothing ever archived): that row could only miss every objective, forever, and fire
                // the alerts of a setup that never meant to recover from WAL.
                bool nothingArchived = read.Binding is null && read.Files.Count == 0 && read.Stream is null && !(isServers && server!.ArchiveMode != "off");
                if (database is null && inScope.Count == 0 && nothingArchived && scopes.Count > 0) continue;
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

    /// <summary>What one stanza's listing showed: its archived WAL files, and whether archive.json and stream.json exist.</summary>
    private sealed class StanzaObjects(WalArchive archive)
    {
        public WalArchive Archive { get; } = archive;
        public List<(WalFileName Name, StoredObjectInfo Object)> Files { get; } = [];
        public bool HasBinding { get; set; }
        public bool HasStream { get; set; }
    }

    /// <summary>One listing of wal/ (of wal/&lt;stanza&gt;/ when one is named), by stanza: every stanza with an object in it.</summary>
    private static async Task<Dictionary<string, StanzaObjects>> ListWalAsync(BackupRepository repository, string? stanza, CancellationToken ct)
    {
        var byStanza = new Dictionary<string, StanzaObjects>(StringComparer.Ordinal);
        string prefix = stanza is null ? "wal/" : new WalArchive(repository, stanza).StanzaPrefix;
        await foreach (var obj in repository.Store.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            var parts = obj.Key.Split('/');
            if (parts.Length < 3) continue;
            if (!byStanza.TryGetValue(parts[1], out var objects)) byStanza[parts[1]] = objects = new StanzaObjects(new WalArchive(repository, parts[1]));
            if (parts.Length == 3)
            {
                objects.HasBinding |= parts[2] == WalArchive.BindingName;
                objects.HasStream |= parts[2] == WalStreamState.FileName;
            }
            else if (objects.Archive.TryParseKey(obj.Key, out var name))
            {
                objects.Files.Add((name, obj));
            }
        }
        return byStanza;
    }

    /// <summary>A stanza's WAL as the status needs it, each object read once.</summary>
    private sealed record StanzaWal(WalArchive Archive, WalArchiveBinding? Binding, List<(WalFileName Name, StoredObjectInfo Object)> Files, WalStreamState? Stream)
    {
        public static async Task<StanzaWal> ReadAsync(WalArchive archive, StanzaObjects? listed, CancellationToken ct) => new(archive,
            listed is { HasBinding: true } ? await archive.ReadBindingAsync(ct).ConfigureAwait(false) : null,
            listed?.Files ?? [],
            listed is { HasStream: true } ? await WalStreamState.ReadAsync(archive, ct).ConfigureAwait(false) : null);
    }

    private static TimeSpan Positive(TimeSpan value) => value < TimeSpan.Zero ? TimeSpan.Zero : value;
}
