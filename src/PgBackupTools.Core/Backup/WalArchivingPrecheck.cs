using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// A physical or snapshot backup restores only with the WAL it spans, which has to reach the repository's archive.
/// When the server archives nothing (archive_mode off, or on with nothing to archive with) and no WAL receiver is
/// connected or has a physical slot (Start-PgWalStream fills the archive over replication), such a backup would copy or snapshot everything
/// and then wait out its archive timeout for nothing. This refuses it before anything is copied or stored.
/// </summary>
public static class WalArchivingPrecheck
{
    public static async Task ThrowIfWalCannotReachArchiveAsync(PgConnectionInfo server, string repositoryLocation, CancellationToken cancellationToken)
    {
        await using var connection = await PgServer.OpenAsync(server, cancellationToken).ConfigureAwait(false);
        await ThrowIfWalCannotReachArchiveOnAsync(connection, server, repositoryLocation, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task ThrowIfWalCannotReachArchiveOnAsync(NpgsqlConnection connection, PgConnectionInfo server, string repositoryLocation, CancellationToken cancellationToken)
    {
        // A standby archives only with archive_mode=always, but its WAL also reaches the archive through its primary:
        // there the archive timeout, with the archiver's status in its message, is the judge.
        await using var cmd = new NpgsqlCommand("""
            SELECT pg_is_in_recovery(), current_setting('archive_mode'), coalesce(current_setting('archive_command', true), ''),
                   coalesce(current_setting('archive_library', true), ''),
                   coalesce((SELECT pending_restart FROM pg_settings WHERE name = 'archive_mode'), false),
                   (SELECT count(*) FROM pg_stat_replication) + (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'physical')
            """, connection);
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        bool inRecovery = reader.GetBoolean(0), restartPending = reader.GetBoolean(4);
        string mode = reader.GetString(1), command = reader.GetString(2), library = reader.GetString(3);
        long receivers = reader.GetInt64(5); // connected, or one whose slot keeps the WAL until it reconnects
        if (inRecovery || receivers > 0 || mode != "off" && (command.Length > 0 || library.Length > 0)) return;

        string why = mode != "off" ? "archive_mode is on, but neither archive_command nor archive_library is set"
            : restartPending ? "archive_mode is set to on, but that takes effect only when the server restarts"
            : "archive_mode is off";
        string fix = mode == "off" && restartPending
            ? "Restart the server, then back up again."
            : $"Run Enable-PgWalArchiving -Repository '{repositoryLocation}' (and restart the server when it says so), or stream WAL into the repository with Start-PgWalStream; then back up again.";
        throw new PgBackupException(FailureKind.InvalidArgument,
            $"{server.Server} does not archive WAL ({why}) and no WAL receiver is connected or has a replication slot. A physical backup restores only with the WAL it spans, so nothing was copied or stored. {fix}",
            server.Server);
    }
}
