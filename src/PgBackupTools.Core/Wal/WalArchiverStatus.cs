using Npgsql;
using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Core.Wal;

/// <summary>pg_stat_archiver and the server's identity, for Test-PgWalArchive.</summary>
public sealed record WalArchiverStatus(string Server, string SystemIdentifier, long ArchivedCount, string? LastArchivedWal, DateTimeOffset? LastArchivedTime,
    long FailedCount, string? LastFailedWal, DateTimeOffset? LastFailedTime, DateTimeOffset Now)
{
    public static async Task<WalArchiverStatus> ReadAsync(PgConnectionInfo info, CancellationToken ct)
    {
        await using var connection = await PgServer.OpenAsync(info, ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time, now(), " +
            "(SELECT system_identifier::text FROM pg_control_system()) FROM pg_stat_archiver", connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        DateTimeOffset? Time(int i) => reader.IsDBNull(i) ? null : new DateTimeOffset(reader.GetDateTime(i).ToUniversalTime(), TimeSpan.Zero);
        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        return new WalArchiverStatus(info.Server, reader.GetString(7), reader.GetInt64(0), Text(1), Time(2), reader.GetInt64(3), Text(4), Time(5), Time(6)!.Value);
    }

    /// <summary>Adds the archiver's view to a continuity report and decides whether it passed.</summary>
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
        if (LastFailedTime is { } failed && (LastArchivedTime is null || failed > LastArchivedTime))
            report.Problems.Add($"archive_command is failing on {Server}: the last attempt ({LastFailedWal} at {failed:u}) failed after the last success. Its message is in the server log; WAL accumulates in pg_wal until it works.");
        if (ArchivedCount == 0 && FailedCount == 0)
            report.Problems.Add($"{Server} has not archived anything since its statistics were reset: check archive_mode and archive_command (Enable-PgWalArchiving).");
        report.Passed = report.Problems.Count == 0;
    }
}
