using System.ComponentModel;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Npgsql;
using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Core.Restore;

/// <summary>
/// The scratch databases a logical restore (pgbt_restore_*) or a test restore (pgbt_test_*) makes on a server, and
/// the clean-up of those a killed process left behind. A database is dropped only when all of these hold: its name is
/// exactly a scratch name, it carries our marker, the process the marker names is provably gone (same host: that pid
/// is not running, or runs with another start time; another host: the marker is older than <see cref="OtherHostAge"/>),
/// nobody is connected, and it is not a staging database caught between a -Force restore's two renames.
/// </summary>
public static partial class ScratchDatabases
{
    public const string RestorePrefix = "pgbt_restore_";
    public const string TestPrefix = "pgbt_test_";
    /// <summary>What a -Force restore renames the database it replaces to, until the restored copy is in place.</summary>
    public const string ReplacedPrefix = "pgbt_replaced_";
    public const string RestorePurpose = "restore";
    public const string TestPurpose = "test";

    /// <summary>How old a marker made on another host must be before its restore counts as gone: no restore runs a day.</summary>
    public static readonly TimeSpan OtherHostAge = TimeSpan.FromHours(24);

    [GeneratedRegex("\\Apgbt_(restore|test)_[0-9a-f]{12}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex ScratchName();

    public static bool IsScratchName(string name) => ScratchName().IsMatch(name);

    public static string NewName(string prefix) => prefix + Guid.NewGuid().ToString("N")[..12];

    public static async Task MarkAsync(NpgsqlConnection admin, string database, ScratchDatabaseMarker marker, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"COMMENT ON DATABASE {PgServer.QuoteIdentifier(database)} IS {PgServer.QuoteLiteral(marker.ToJson())}", admin);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task UnmarkAsync(NpgsqlConnection admin, string database, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"COMMENT ON DATABASE {PgServer.QuoteIdentifier(database)} IS NULL", admin);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Remove-PgScratchDatabase: the scratch databases on a server (connects to its maintenance database).</summary>
    public static async Task<List<PgScratchDatabase>> FindAsync(PgConnectionInfo server, CancellationToken ct)
    {
        await using var admin = await PgServer.OpenAsync(server.WithDatabase("postgres"), ct).ConfigureAwait(false);
        return await FindAsync(admin, server.Server, ct).ConfigureAwait(false);
    }

    /// <summary>Remove-PgScratchDatabase: drops the given abandoned scratch databases, one by one (see <see cref="DropAsync(NpgsqlConnection, PgScratchDatabase, CancellationToken)"/>).</summary>
    public static async Task DropAsync(PgConnectionInfo server, IEnumerable<PgScratchDatabase> databases, OperationContext context)
    {
        await using var admin = await PgServer.OpenAsync(server.WithDatabase("postgres"), context.CancellationToken).ConfigureAwait(false);
        foreach (var database in databases)
        {
            context.Log($"Dropping {database.Name}: {database.Reason}");
            await DropAsync(admin, database, context.CancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Every database on the server named like a scratch database, each with the state that decides its fate; and every
    /// database a -Force restore renamed away (pgbt_replaced_*) that is still there, never to be dropped by us.
    /// </summary>
    public static async Task<List<PgScratchDatabase>> FindAsync(NpgsqlConnection admin, string server, CancellationToken ct)
    {
        // Every database, for the names; sizes and sessions only of ours (a size needs CONNECT, which a role may lack).
        const string sql = """
            SELECT d.datname, shobj_description(d.oid, 'pg_database'),
                   CASE WHEN d.datname LIKE 'pgbt\_%' AND has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END,
                   (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid)::int
            FROM pg_database d ORDER BY d.datname
            """;
        var rows = new List<(string Name, ScratchDatabaseMarker? Marker, long? Size, int Connections)>();
        await using (var cmd = new NpgsqlCommand(sql, admin))
        await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                rows.Add((reader.GetString(0), ScratchDatabaseMarker.TryParse(reader.IsDBNull(1) ? null : reader.GetString(1)),
                    reader.IsDBNull(2) ? null : reader.GetInt64(2), reader.GetInt32(3)));
        }
        var names = rows.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var now = DateTimeOffset.UtcNow;
        var found = new List<PgScratchDatabase>();
        foreach (var (name, marker, size, connections) in rows)
        {
            if (IsScratchName(name))
                found.Add(Classify(name, server, marker, size, connections, names.Contains, now));
            else if (IsReplacedName(name))
            {
                // The marker that names it travels with the restored copy: on the staging database, or on the target once renamed.
                var owner = rows.FirstOrDefault(r => r.Marker?.ReplacedDatabase == name && r.Marker.Phase == ScratchDatabaseMarker.PlacingPhase);
                found.Add(ClassifyReplaced(name, server, owner.Marker is null ? null : (owner.Name, owner.Marker), size, connections, now));
            }
        }
        return found;
    }

    public static bool IsReplacedName(string name) => ReplacedName().IsMatch(name);

    [GeneratedRegex("\\Apgbt_replaced_[0-9a-f]{12}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex ReplacedName();

    /// <summary>Decides what may become of one scratch database; <paramref name="exists"/> says whether a database name exists on the server.</summary>
    internal static PgScratchDatabase Classify(string name, string server, ScratchDatabaseMarker? marker, long? size, int connections,
        Func<string, bool> exists, DateTimeOffset now)
    {
        var found = new PgScratchDatabase { Name = name, Server = server, SizeBytes = size, Connections = connections };
        if (marker is null)
        {
            found.State = ScratchDatabaseState.Unmarked;
            found.Reason = "It has no PgBackupTools marker (COMMENT ON DATABASE), so nothing proves it is a scratch database of this module: kept.";
            return found;
        }
        Describe(found, marker);
        if (Ownership(marker, now, out string gone) is { } kept)
        {
            found.State = kept;
            found.Reason = gone;
            return found;
        }
        if (connections > 0)
        {
            found.State = ScratchDatabaseState.Connected;
            found.Reason = $"It was {gone}, but {connections} session(s) are connected to it: kept. Drop it once they have disconnected (Remove-PgScratchDatabase).";
            return found;
        }
        if (marker.Phase == ScratchDatabaseMarker.PlacingPhase && marker.TargetDatabase is { } target && target != name && marker.ReplacedDatabase is { } replaced)
        {
            // Between the two renames of a -Force restore: once the old database is renamed away and before this one takes
            // its name, the target name is free and this is the restored copy the user asked for. That is not ours to drop.
            bool targetThere = exists(target), replacedThere = exists(replaced);
            if (replacedThere || !targetThere)
            {
                found.State = ScratchDatabaseState.Interrupted;
                found.Reason = replacedThere && !targetThere
                    ? $"It was {gone} while replacing database '{target}' (-Force): '{target}' had been renamed to '{replaced}' and this restored copy had not yet taken its name. " +
                      $"To finish the restore: ALTER DATABASE {PgServer.QuoteIdentifier(name)} RENAME TO {PgServer.QuoteIdentifier(target)}; then, once checked, DROP DATABASE {PgServer.QuoteIdentifier(replaced)}. " +
                      $"To keep the old database instead: ALTER DATABASE {PgServer.QuoteIdentifier(replaced)} RENAME TO {PgServer.QuoteIdentifier(target)}; DROP DATABASE {PgServer.QuoteIdentifier(name)}. Kept."
                    : $"It was {gone} while replacing database '{target}' (-Force); '{target}' {(targetThere ? "exists" : "does not exist")} and '{replaced}' {(replacedThere ? "exists" : "does not exist")}, " +
                      $"so which one holds the data you want needs a person: compare them, keep one under the name '{target}' and drop the others by hand. Kept.";
                return found;
            }
        }
        found.State = ScratchDatabaseState.Abandoned;
        found.Reason = $"It was {gone}, and nobody is connected to it.";
        return found;
    }

    /// <summary>
    /// A database a -Force restore renamed away (pgbt_replaced_*): it holds the data the target had. Never dropped here;
    /// reported once the restore that renamed it is gone, with what to do.
    /// </summary>
    internal static PgScratchDatabase ClassifyReplaced(string name, string server, (string Name, ScratchDatabaseMarker Marker)? owner, long? size, int connections, DateTimeOffset now)
    {
        var found = new PgScratchDatabase { Name = name, Server = server, SizeBytes = size, Connections = connections, Purpose = RestorePurpose, ReplacedDatabase = name };
        if (owner is not { } o)
        {
            found.State = ScratchDatabaseState.Unmarked;
            found.Reason = "It is named like a database a -Force Restore-PgDatabase renamed away, and no restore's marker names it: it may hold the data a replaced database had. " +
                $"Check it, then drop it by hand (DROP DATABASE {PgServer.QuoteIdentifier(name)}) or rename it back. Kept.";
            return found;
        }
        Describe(found, o.Marker);
        found.ReplacedDatabase = name;
        if (Ownership(o.Marker, now, out string gone) is { } kept)
        {
            found.State = kept;
            found.Reason = $"Renamed away by a -Force restore of '{o.Marker.TargetDatabase}' that is not known to be gone: {gone}";
            return found;
        }
        found.State = ScratchDatabaseState.Interrupted;
        string target = o.Marker.TargetDatabase ?? "?";
        found.Reason = o.Name == target
            ? $"It holds what '{target}' held before a -Force restore replaced it ({gone}): '{target}' now holds the restored backup, and the restore ended before dropping this one. " +
              $"Once '{target}' is checked: DROP DATABASE {PgServer.QuoteIdentifier(name)}. Kept."
            : $"It holds what '{target}' held before a -Force restore renamed it away ({gone}); the restored copy is {o.Name}, reported with what to do. Kept.";
        return found;
    }

    private static void Describe(PgScratchDatabase found, ScratchDatabaseMarker marker)
    {
        found.Purpose = marker.Purpose;
        found.HostName = marker.HostName;
        found.ProcessId = marker.ProcessId;
        found.ProcessStartTime = marker.ProcessStartTime;
        found.Created = marker.Created;
        found.TargetDatabase = marker.TargetDatabase;
        found.ReplacedDatabase = marker.ReplacedDatabase;
    }

    /// <summary>
    /// Null when the process the marker names is provably gone (<paramref name="text"/> then says how, as "made by ...");
    /// otherwise the state to keep the database in, with <paramref name="text"/> the whole reason.
    /// </summary>
    private static ScratchDatabaseState? Ownership(ScratchDatabaseMarker marker, DateTimeOffset now, out string text)
    {
        string maker = $"process {marker.ProcessId} on {marker.HostName} (started {marker.ProcessStartTime:u})";
        if (string.Equals(marker.HostName, Environment.MachineName, StringComparison.OrdinalIgnoreCase))
        {
            switch (ProcessState(marker.ProcessId, marker.ProcessStartTime))
            {
                case Liveness.Running:
                    text = $"Made by {maker}, which is still running: kept.";
                    return ScratchDatabaseState.InUse;
                case Liveness.Unknown:
                    text = $"Made by {maker}; process {marker.ProcessId} runs and its start time cannot be read, so it may be the same process: kept.";
                    return ScratchDatabaseState.InUse;
                case Liveness.Reused:
                    text = $"made by {maker}, which has ended (pid {marker.ProcessId} now belongs to another process)";
                    return null;
                default:
                    text = $"made by {maker}, which is no longer running";
                    return null;
            }
        }
        var age = now - marker.Created;
        if (age < OtherHostAge)
        {
            text = $"Made {DurationText(age)} ago by {maker}, on another host, whose restore counts as gone only after {OtherHostAge.TotalHours:0} hours: kept.";
            return ScratchDatabaseState.Recent;
        }
        text = $"made {DurationText(age)} ago by {maker}, on another host (no restore runs {OtherHostAge.TotalHours:0} hours)";
        return null;
    }

    /// <summary>
    /// Drops one abandoned scratch database, without FORCE: if a session connected since it was found, PostgreSQL refuses
    /// and it is kept. Returns whether it was dropped; the reason says why not.
    /// </summary>
    public static async Task<bool> DropAsync(NpgsqlConnection admin, PgScratchDatabase database, CancellationToken ct)
    {
        if (database.State != ScratchDatabaseState.Abandoned || !IsScratchName(database.Name))
            throw new InvalidOperationException($"{database.Name} is {database.State}; only an abandoned scratch database is dropped.");
        try
        {
            await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS {PgServer.QuoteIdentifier(database.Name)}", admin);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            database.Dropped = true;
            return true;
        }
        catch (PostgresException e)
        {
            database.Reason += $" Dropping it failed: {e.MessageText}{(e.SqlState == "55006" ? " (a session connected to it meanwhile)" : "")}; kept.";
            return false;
        }
    }

    /// <summary>
    /// Before a restore: drops what killed restores left on the server, with a warning naming each one, and warns about
    /// each interrupted -Force placement. Never fails the restore: a problem here is a warning.
    /// </summary>
    public static async Task CleanUpAbandonedAsync(NpgsqlConnection admin, string server, OperationContext context)
    {
        try
        {
            foreach (var found in await FindAsync(admin, server, context.CancellationToken).ConfigureAwait(false))
            {
                if (found.State == ScratchDatabaseState.Interrupted)
                    context.Warn($"Database {found.Name} on {server} is left from an interrupted restore and is NOT dropped: {found.Reason}");
                else if (found.State == ScratchDatabaseState.Abandoned)
                {
                    if (await DropAsync(admin, found, context.CancellationToken).ConfigureAwait(false))
                        context.Warn($"Dropped scratch database {found.Name}{SizeText(found.SizeBytes)} on {server}, left behind by an interrupted {(found.Purpose == TestPurpose ? "Test-PgBackup -Restore" : "Restore-PgDatabase")}: {found.Reason}");
                    else
                        context.Warn($"Scratch database {found.Name} on {server} was left behind by an interrupted run and could not be dropped: {found.Reason}");
                }
                else if (found.State == ScratchDatabaseState.Connected)
                    context.Warn($"Scratch database {found.Name}{SizeText(found.SizeBytes)} on {server} was left behind by an interrupted run, but is kept: {found.Reason}");
                else
                    context.Log($"Scratch database {found.Name} on {server}: {found.Reason}");
            }
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            context.Warn($"Could not look for scratch databases left on {server} by interrupted restores: {e.Message}. Remove-PgScratchDatabase lists and drops them.");
        }
    }

    private enum Liveness { Gone, Running, Reused, Unknown }

    private static Liveness ProcessState(int pid, DateTimeOffset recordedStart)
    {
        Process process;
        try { process = Process.GetProcessById(pid); }
        catch (ArgumentException) { return Liveness.Gone; }
        using (process)
        {
            try
            {
                if (process.HasExited) return Liveness.Gone;
                // The start time is read from /proc against the boot time, which wobbles by milliseconds between reads.
                var started = new DateTimeOffset(process.StartTime.ToUniversalTime());
                return (started - recordedStart).Duration() > TimeSpan.FromSeconds(2) ? Liveness.Reused : Liveness.Running;
            }
            catch (Exception e) when (e is Win32Exception or InvalidOperationException or NotSupportedException)
            {
                return Liveness.Unknown;
            }
        }
    }

    private static string SizeText(long? bytes) => bytes is { } b ? $" ({b / (1024.0 * 1024.0):F1} MiB)" : "";

    private static string DurationText(TimeSpan age) => age.TotalHours >= 1 ? $"{age.TotalHours:F1} hours" : $"{Math.Max(0, age.TotalMinutes):F0} minutes";

}
