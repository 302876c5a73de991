using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Backup;

/// <summary>What pg_backup_stop returned: the stop LSN, and the backup_label and tablespace_map the copy must carry.</summary>
public sealed record BackupStopPoint(string StopLsn, string LabelFile, string? TablespaceMapFile);

/// <summary>
/// A non-exclusive backup (pg_backup_start / pg_backup_stop, pg_start_backup / pg_stop_backup before PostgreSQL 15)
/// on a session that stays open for the whole copy: if the process dies, the session ends and the server leaves
/// backup mode by itself. Used by the file-copy physical backup and by snapshot backups.
/// </summary>
internal sealed class NonExclusiveBackupSession(NpgsqlConnection connection, int serverVersionNumber, OperationContext context)
{
    private static readonly Regex StartTimeline = new(@"START TIMELINE: (\d+)", RegexOptions.CultureInvariant);
    private bool Modern => serverVersionNumber >= 150000;

    /// <returns>The start LSN.</returns>
    public async Task<string> StartAsync(string label, CancellationToken ct)
    {
        // The session idles while the files are copied: a server-wide idle_session_timeout (14+) would end it and abort
        // the backup, a statement_timeout could cut pg_backup_stop short.
        await using (var settings = new NpgsqlCommand(serverVersionNumber >= 140000 ? "SET statement_timeout = 0; SET idle_session_timeout = 0" : "SET statement_timeout = 0", connection))
            await settings.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        string sql = Modern ? "SELECT pg_backup_start($1, true)::text" : "SELECT pg_start_backup($1, true, false)::text";
        context.Log($"{(Modern ? "pg_backup_start" : "pg_start_backup")}('{label}', fast => true).");
        await using var cmd = new NpgsqlCommand(sql, connection) { Parameters = { new() { Value = label } } };
        return (string)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>
    /// Runs <paramref name="work"/> (the copy, the snapshots) after <see cref="StartAsync"/>, then ends the backup
    /// whatever happened to it: the session must not leave the server in backup mode. The work's failure is the one
    /// that is thrown; a stop that fails after it is only a warning.
    /// </summary>
    public async Task<BackupStopPoint> StopAfterAsync(Func<Task> work)
    {
        try
        {
            await work().ConfigureAwait(false);
        }
        catch (Exception)
        {
            try { await StopAsync().ConfigureAwait(false); }
            catch (Exception e) { context.Warn($"pg_backup_stop failed after the backup failed: {e.Message}"); }
            throw;
        }
        return await StopAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Ends the backup. Not cancellable: the session must not stay in backup mode because the copy was cancelled.
    /// wait_for_archive => false: pg_backup_stop would wait forever on a failing archive_command; callers wait for
    /// the repository's own archive instead, with a timeout and a message that says what to fix.
    /// </summary>
    public async Task<BackupStopPoint> StopAsync()
    {
        string sql = Modern
            ? "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)"
            : "SELECT lsn::text, labelfile, spcmapfile FROM pg_stop_backup(false, false)";
        context.Log($"{(Modern ? "pg_backup_stop" : "pg_stop_backup")}() on the backup's session.");
        await using var cmd = new NpgsqlCommand(sql, connection);
        await using var reader = await cmd.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
        await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
        return new BackupStopPoint(reader.GetString(0), reader.GetString(1),
            reader.IsDBNull(2) || reader.GetString(2).Length == 0 ? null : reader.GetString(2));
    }

    /// <summary>The START TIMELINE of the label pg_backup_stop returned.</summary>
    public static uint StartTimelineOf(string labelFile, string backupId)
    {
        var m = StartTimeline.Match(labelFile);
        if (!m.Success) throw new PgBackupException(FailureKind.ToolFailed, "The backup_label pg_backup_stop returned has no START TIMELINE; the backup is not kept.", backupId);
        return uint.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
