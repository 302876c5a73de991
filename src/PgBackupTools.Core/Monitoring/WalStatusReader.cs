using PgBackupTools.Core.Wal;
using PgBackupTools.Core.Wal.Streaming;

namespace PgBackupTools.Core.Monitoring;

/// <summary>
/// The WAL part of a status: the newest archived segment of a stanza and its age in the repository, and with a
/// server its archiver statistics and the archive lag. The RPO is read from <see cref="PgWalStatus.RecoveryPoints"/>;
/// a WAL stream (Start-PgWalStream) adds its flushed position there as one more point (Source "stream").
/// </summary>
public static class WalStatusReader
{
    public const string ArchiveSource = "archive";
    public const string StreamSource = "stream";

    public static async Task<PgWalStatus?> ReadAsync(WalArchive archive, ServerWalPosition? server, DateTimeOffset now, CancellationToken ct)
    {
        var binding = await archive.ReadBindingAsync(ct).ConfigureAwait(false);
        var files = await archive.ListAsync(ct).ConfigureAwait(false);
        var stream = await WalStreamState.ReadAsync(archive, ct).ConfigureAwait(false);
        return Summarize(archive, binding, files, stream, server, now);
    }

    /// <summary>The status from what was already read of the stanza: its archive.json, its listed WAL files and its stream.json.</summary>
    public static PgWalStatus? Summarize(WalArchive archive, WalArchiveBinding? binding, IReadOnlyList<(WalFileName Name, Storage.StoredObjectInfo Object)> files,
        WalStreamState? stream, ServerWalPosition? server, DateTimeOffset now)
    {
        if (binding is null && files.Count == 0 && server is null && stream is null) return null;
        var status = new PgWalStatus { Stanza = archive.Stanza, SystemIdentifier = binding?.SystemIdentifier, WalSegmentSize = binding?.WalSegmentSize };
        var segments = files.Where(f => f.Name.Kind == WalFileKind.Segment).ToList();
        status.SegmentsInRepository = segments.Count;
        var newest = segments.OrderBy(f => f.Name.Name, StringComparer.Ordinal).LastOrDefault();
        if (newest.Name is not null)
        {
            status.LastArchivedSegment = newest.Name.Name;
            status.LastArchivedTime = newest.Object.LastModified;
            status.LastArchivedAge = Positive(now - newest.Object.LastModified);
        }
        else if (stream is null)
        {
            status.Problems.Add($"Stanza '{archive.Stanza}' has no archived WAL segment in {archive.Repository.Location}: point-in-time recovery is impossible. " +
                "Set up archiving with Enable-PgWalArchiving and check it with Test-PgBackupConfiguration.");
        }
        if (server is not null) ApplyServer(status, server, newest.Name);
        if (status.LastArchivedSegment is not null)
        {
            // Nothing written after the newest archived segment: everything the server has is safe now.
            bool allArchived = status.ArchiveLagBytes == 0;
            var time = allArchived ? now : status.LastArchivedTime!.Value;
            status.RecoveryPoints.Add(new PgWalRecoveryPoint
            {
                Source = ArchiveSource, Position = status.LastArchivedSegment, Time = time, Age = Positive(now - time),
            });
        }
        if (stream is not null && stream.FlushLsn.Length > 0) ApplyStream(status, stream, server, now);
        return status;
    }

    /// <summary>
    /// The stream's flushed position is one more recovery point. With the server connected and nothing written past
    /// that position, everything is safe now; otherwise the point is as old as the stream's last durable write.
    /// </summary>
    private static void ApplyStream(PgWalStatus status, WalStreamState stream, ServerWalPosition? server, DateTimeOffset now)
    {
        status.StreamedLsn = stream.FlushLsn;
        status.StreamUpdated = stream.Updated;
        status.StreamAge = Positive(now - stream.Updated);
        status.StreamSynchronous = stream.Synchronous;
        string? against = server?.CurrentLsn is { } current && server.Timeline == stream.Timeline ? current : stream.ServerLsn;
        if (against is not null) status.StreamLagBytes = Backup.Lsn.BytesAfter(against, stream.FlushLsn);
        bool caughtUp = server?.CurrentLsn is not null && server.Timeline == stream.Timeline && status.StreamLagBytes == 0;
        var time = caughtUp ? now : stream.Updated;
        status.RecoveryPoints.Add(new PgWalRecoveryPoint { Source = StreamSource, Position = stream.FlushLsn, Time = time, Age = Positive(now - time) });
    }

    private static void ApplyServer(PgWalStatus status, ServerWalPosition server, WalFileName? newest)
    {
        status.Server = server.Server;
        status.ServerSystemIdentifier = server.SystemIdentifier;
        status.ArchivedCount = server.ArchivedCount;
        status.FailedCount = server.FailedCount;
        status.LastFailedWal = server.LastFailedWal;
        status.LastFailedTime = server.LastFailedTime;
        status.ArchiverFailing = server.ArchiverFailing;
        status.CurrentLsn = server.CurrentLsn;
        status.CurrentSegment = server.CurrentSegment;
        if (status.SystemIdentifier is not null && status.SystemIdentifier != server.SystemIdentifier)
            status.Problems.Add($"{server.Server} is the cluster {server.SystemIdentifier}, but stanza '{status.Stanza}' archives the cluster {status.SystemIdentifier}: " +
                "this server's WAL goes elsewhere. Give this server its own stanza.");
        if (server.ArchiverFailing)
            status.Problems.Add($"archive_command is failing on {server.Server}: the last attempt ({server.LastFailedWal} at {server.LastFailedTime:u}) failed after the last success " +
                $"({server.FailedCount} failures so far). WAL piles up in pg_wal and the RPO grows until it works: Test-PgBackupConfiguration names the fix, the server log has the error.");
        else if (server.ArchiveMode == "off")
            status.Problems.Add($"archive_mode is off on {server.Server}: no WAL is archived. Enable-PgWalArchiving turns it on (restart needed).");
        if (server.CurrentLsn is not null && newest is not null && newest.Timeline == server.Timeline)
        {
            ulong size = (ulong)server.WalSegmentSize;
            ulong current = Backup.Lsn.Parse(server.CurrentLsn);
            ulong archivedEnd = (newest.SegmentNumber(server.WalSegmentSize) + 1) * size;
            status.ArchiveLagBytes = current > archivedEnd ? (long)(current - archivedEnd) : 0;
            ulong currentSegment = current / size;
            ulong archived = newest.SegmentNumber(server.WalSegmentSize);
            status.ArchiveLagSegments = currentSegment > archived + 1 ? (long)(currentSegment - archived - 1) : 0;
        }
    }

    private static TimeSpan Positive(TimeSpan value) => value < TimeSpan.Zero ? TimeSpan.Zero : value;
}
