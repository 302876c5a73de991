using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Snapshots;

/// <summary>What New-PgVolumeSnapshot -Repository asked for.</summary>
public sealed record SnapshotBackupOptions
{
    public string Stanza { get; init; } = "main";
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
    /// <summary>More tags for every snapshot of the set.</summary>
    public IReadOnlyDictionary<string, string>? Tags { get; init; }
    public TimeSpan ArchiveTimeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>How often the backup's in-progress marker is rewritten; null: <see cref="InProgressHeartbeat.DefaultInterval"/>.</summary>
    internal TimeSpan? HeartbeatInterval { get; init; }
}

/// <summary>
/// A consistent snapshot backup: pg_backup_start (non-exclusive, on one session held open throughout), a snapshot of
/// every volume of the set, pg_backup_stop as soon as every snapshot's point in time is fixed (EBS: when
/// CreateSnapshot returns), then the wait for the snapshots to complete and for the WAL through the stop LSN to reach
/// the repository's archive, and last the manifest (the commit point) with the backup_label and tablespace_map that
/// pg_backup_stop returned. Stopping the backup before the copies complete keeps the server's backup window (and its
/// forced full-page writes) short; the snapshots are no less consistent for it.
/// Any failure: pg_backup_stop still runs, the set's snapshots are deleted, no manifest is written.
/// </summary>
public static class SnapshotBackupJob
{
    public static async Task<PgBackup> RunAsync(BackupRepository repository, PgConnectionInfo server, ISnapshotProvider provider, SnapshotTarget timing,
        IReadOnlyList<string> volumes, SnapshotBackupOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        RepositoryNames.ValidateStanza(options.Stanza);
        if (volumes.Count == 0) throw new PgBackupException(FailureKind.InvalidArgument, "Give at least one volume to snapshot.");
        if (volumes.Distinct(StringComparer.Ordinal).Count() != volumes.Count)
            throw new PgBackupException(FailureKind.InvalidArgument, $"A volume is named twice: {string.Join(", ", volumes)}.");
        await using var connection = await PgServer.OpenAsync(server, ct).ConfigureAwait(false);
        var facts = await PgServer.GetFactsAsync(connection, ct).ConfigureAwait(false);
        long segmentSize = await PgServer.WalSegmentSizeAsync(connection, ct).ConfigureAwait(false);
        if (await PgServer.ScalarAsync<bool>(connection, "SELECT pg_is_in_recovery()", ct).ConfigureAwait(false))
            throw new PgBackupException(FailureKind.InvalidArgument, $"{server.Server} is a standby; snapshot backups are taken from the primary so far.", server.Server);
        await WalArchivingPrecheck.ThrowIfWalCannotReachArchiveOnAsync(connection, server, repository.Location, ct).ConfigureAwait(false);

        var backup = BackupRecord.Start(BackupType.Snapshot, options.Stanza, server, facts, repository, key: null, options.Labels);
        backup.Compression = CompressionKind.None;
        backup.SnapshotProvider = provider.Kind;
        backup.BackupLabel = "pgbt " + backup.Id;
        var tags = new Dictionary<string, string>(options.Tags ?? new Dictionary<string, string>())
        {
            [SnapshotTags.Stanza] = options.Stanza,
        };
        if (facts.SystemIdentifier is not null) tags[SnapshotTags.Cluster] = facts.SystemIdentifier;
        context.Log($"Backup {backup.Id}: consistent snapshots of {volumes.Count} volume(s) ({string.Join(", ", volumes)}) in {provider.Location} for {server.Server} (PostgreSQL {backup.ServerVersion}), catalogued in {repository.Location}.");

        // Before the server starts the backup: from here on a concurrent WAL prune keeps what it will need.
        var heartbeat = await InProgressHeartbeat.StartAsync(repository, connection, backup, segmentSize, context, options.HeartbeatInterval).ConfigureAwait(false);
        List<PgVolumeSnapshot>? snapshots = null;
        try
        {
            var session = new NonExclusiveBackupSession(connection, facts.VersionNumber, context);
            backup.StartLsn = await session.StartAsync(backup.BackupLabel, ct).ConfigureAwait(false);
            var stop = await session.StopAfterAsync(async () =>
            {
                await heartbeat.StartedAtAsync(backup.StartLsn, ct).ConfigureAwait(false);
                snapshots = await SnapshotSet.StartAsync(provider, volumes, backup.Id, tags, context).ConfigureAwait(false);
            }).ConfigureAwait(false);
            backup.StopLsn = stop.StopLsn;
            backup.BackupLabelFile = stop.LabelFile;
            backup.TablespaceMapFile = stop.TablespaceMapFile;
        }
        catch
        {
            if (snapshots is not null) await SnapshotSet.AbandonAsync(provider, backup.Id, snapshots, context).ConfigureAwait(false);
            await heartbeat.StopAsync().ConfigureAwait(false);
            await repository.AbandonUnfinishedAsync(backup, context).ConfigureAwait(false);
            throw;
        }

        try
        {
            backup.Timeline = NonExclusiveBackupSession.StartTimelineOf(backup.BackupLabelFile!, backup.Id);
            PhysicalBackupJob.SetWalSegments(backup, segmentSize);

            backup.Snapshots = await SnapshotSet.WaitForCompletionAsync(provider, snapshots!, timing, $"Snapshots of backup {backup.Id}", context).ConfigureAwait(false);
            await PhysicalBackupJob.WaitForArchivedAsync(repository, connection, backup, options.ArchiveTimeout, context).ConfigureAwait(false);

            backup.EndTime = DateTimeOffset.UtcNow;
            await repository.CommitBackupAsync(backup, ct).ConfigureAwait(false);
            await heartbeat.EndAsync().ConfigureAwait(false);
            context.Log($"Backup {backup.Id} committed: {backup.Snapshots.Count} snapshot(s) ({string.Join(", ", backup.Snapshots.Select(s => s.SnapshotId))}), WAL {backup.StartLsn}..{backup.StopLsn} on timeline {backup.Timeline} archived, in {backup.Duration.TotalSeconds:F1} s.");
            return backup;
        }
        catch
        {
            await SnapshotSet.AbandonAsync(provider, backup.Id, backup.Snapshots ?? snapshots!, context).ConfigureAwait(false);
            await heartbeat.StopAsync().ConfigureAwait(false);
            await repository.AbandonUnfinishedAsync(backup, context).ConfigureAwait(false);
            throw;
        }
    }
}
