using Npgsql;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Monitoring;

/// <summary>
/// What a server says about its WAL and its archiver, read in one query: pg_stat_archiver, the current WAL
/// position (null on a standby, which has no insert position of its own), the segment size and the system id.
/// The one reader of pg_stat_archiver, and the one "failing" rule, for Get-PgBackupStatus, Export-PgBackupMetric,
/// Test-PgBackupConfiguration and Test-PgWalArchive.
/// </summary>
public sealed record ServerWalPosition(string Server, string SystemIdentifier, DateTimeOffset Now, bool InRecovery,
    long ArchivedCount, string? LastArchivedWal, DateTimeOffset? LastArchivedTime, long FailedCount, string? LastFailedWal, DateTimeOffset? LastFailedTime,
    string ArchiveMode, string? CurrentLsn, uint? Timeline, long WalSegmentSize)
{
    /// <summary>archive_command's last attempt failed after its last success.</summary>
    public bool ArchiverFailing => LastFailedTime is { } failed && (LastArchivedTime is null || failed > LastArchivedTime);

    public string? CurrentSegment => CurrentLsn is null || Timeline is null ? null
        : WalFileName.SegmentFileName(Timeline.Value, Backup.Lsn.Parse(CurrentLsn) / (ulong)WalSegmentSize, WalSegmentSize);

    public static async Task<ServerWalPosition> ReadAsync(PgConnectionInfo info, CancellationToken ct)
    {
        await using var connection = await PgServer.OpenAsync(info, ct).ConfigureAwait(false);
        return await ReadAsync(connection, info.Server, ct).ConfigureAwait(false);
    }

    public static async Task<ServerWalPosition> ReadAsync(NpgsqlConnection connection, string server, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            SELECT a.archived_count, a.last_archived_wal, a.last_archived_time, a.failed_count, a.last_failed_wal, a.last_failed_time, now(),
                   (SELECT system_identifier::text FROM pg_control_system()), pg_is_in_recovery(),
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END,
                   CASE WHEN pg_is_in_recovery() THEN NULL ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END,
                   (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),
                   current_setting('archive_mode')
            FROM pg_stat_archiver a
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        DateTimeOffset? Time(int i) => reader.IsDBNull(i) ? null : new DateTimeOffset(reader.GetDateTime(i).ToUniversalTime(), TimeSpan.Zero);
        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        uint? timeline = reader.IsDBNull(10) ? null : uint.Parse(reader.GetString(10), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture);
        return new ServerWalPosition(server, reader.GetString(7), Time(6)!.Value, reader.GetBoolean(8),
            reader.GetInt64(0), Text(1), Time(2), reader.GetInt64(3), Text(4), Time(5),
            reader.GetString(12), Text(9), timeline, reader.GetInt64(11));
    }

    /// <summary>Adds the archiver's view to a continuity report (Test-PgWalArchive) and decides whether it passed.</summary>
    public void ApplyTo(PgWalArchiveReport report)
    {
        report.Server = Server;
        report.ArchivedCount = ArchivedCount;
        report.LastArchivedWal = LastArchivedWal;
        report.LastArchivedTime = LastArchivedTime;
        report.LastArchivedAge = LastArchivedTime is { } t ? Now - t : null;
        report.FailedCount = FailedCount;
        report.LastFailedWal = LastFailedWal;
        report.LastFailedTime = LastFailedTime;
        if (report.SystemIdentifier is not null && report.SystemIdentifier != SystemIdentifier)
            report.Problems.Add($"{Server} has system identifier {SystemIdentifier}, but stanza '{report.Stanza}' archives the cluster {report.SystemIdentifier}: this server archives elsewhere.");
        if (ArchiverFailing)
            report.Problems.Add($"archive_command is failing on {Server}: the last attempt ({LastFailedWal} at {LastFailedTime:u}) failed after the last success. Its message is in the server log; WAL accumulates in pg_wal until it works.");
        if (ArchivedCount == 0 && FailedCount == 0)
            report.Problems.Add($"{Server} has not archived anything since its statistics were reset: check archive_mode and archive_command (Enable-PgWalArchiving).");
        report.Passed = report.Problems.Count == 0;
    }
}
