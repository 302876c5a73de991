using System.Diagnostics;
using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Monitoring;

/// <summary>What Test-PgBackupConfiguration checks against.</summary>
public sealed record ConfigurationCheckOptions
{
    public required string Repository { get; init; }
    public string Stanza { get; init; } = WalArchive.DefaultStanza;
    public required PgConnectionInfo Server { get; init; }
    /// <summary>The pgbt-wal this module ships (what Enable-PgWalArchiving would put into archive_command).</summary>
    public required string EntryPoint { get; init; }
    public PassphraseSource? Passphrase { get; init; }
    /// <summary>How long to wait for the switched segment to reach the repository.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>archive_timeout above this draws a warning.</summary>
    public TimeSpan RpoTarget { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Like pgBackRest's check: is the server set up to archive into this repository, and does it really? Settings
/// first (wal_level, archive_mode, archive_command, archive_timeout), the repository (reachable, writable, stanza
/// bound to this cluster), pg_stat_archiver, then a real pg_switch_wal() and a wait until that segment is in the
/// repository. Every check says what it found and, when it did not pass, what to do.
/// </summary>
public static class ConfigurationChecker
{
    public static async Task<List<PgConfigurationCheck>> RunAsync(ConfigurationCheckOptions options, Action<PgConfigurationCheck> report, OperationContext context)
    {
        var ct = context.CancellationToken;
        var checks = new List<PgConfigurationCheck>();
        string enable = $"Enable-PgWalArchiving -Repository '{options.Repository}'{(options.Stanza == WalArchive.DefaultStanza ? "" : $" -Stanza {options.Stanza}")}";
        void Add(string name, PgCheckStatus status, string detail, string fix = "")
        {
            var check = new PgConfigurationCheck
            {
                Name = name, Status = status, Detail = detail, Fix = status == PgCheckStatus.OK ? "" : fix,
                Server = options.Server.Server, Repository = options.Repository, Stanza = options.Stanza,
            };
            checks.Add(check);
            report(check);
        }

        // ---- the repository
        BackupRepository? repository = null;
        try
        {
            repository = await BackupRepository.OpenAsync(options.Repository, create: false, ct, options.Passphrase, keyRequired: false, context).ConfigureAwait(false);
            Add("Repository reachable", PgCheckStatus.OK, $"{repository.Location} is a PgBackupTools repository{(repository.IsEncrypted ? " (encrypted)" : "")}.");
        }
        catch (Exception e) when (e is PgBackupException or IOException or UnauthorizedAccessException or WrongPassphraseException)
        {
            Add("Repository reachable", PgCheckStatus.Failed, e.Message,
                $"Create it with New-PgRepository -Repository '{options.Repository}', or correct -Repository (and the store's credentials).");
        }
        try
        {
            if (repository is not null) await CheckWritableAsync(repository, Add, ct).ConfigureAwait(false);

            // ---- the server
            NpgsqlConnection connection;
            try
            {
                connection = await PgServer.OpenAsync(options.Server, ct).ConfigureAwait(false);
                Add("Server connection", PgCheckStatus.OK, $"Connected to {options.Server.Server} as '{options.Server.Username}'.");
            }
            catch (PgBackupException e)
            {
                Add("Server connection", PgCheckStatus.Failed, e.Message, "Check -HostName/-Port (PGHOST/PGPORT), the role and its password, and pg_hba.conf.");
                return checks;
            }
            await using (connection)
            {
                var settings = await ReadSettingsAsync(connection, ct).ConfigureAwait(false);
                CheckSettings(settings, options, enable, Add);
                var position = await ServerWalPosition.ReadAsync(connection, options.Server.Server, ct).ConfigureAwait(false);
                WalArchive? archive = repository is null ? null : new WalArchive(repository, options.Stanza);
                if (archive is not null) await CheckStanzaAsync(archive, position, options, Add, ct).ConfigureAwait(false);
                bool canSwitch = archive is not null && settings.Setting("archive_mode") is "on" or "always";
                if (position.InRecovery)
                    Add("WAL switch", PgCheckStatus.Warning, $"{options.Server.Server} is a standby: pg_switch_wal() runs only on the primary.", "Run Test-PgBackupConfiguration against the primary.");
                else if (!canSwitch)
                    Add("WAL switch", PgCheckStatus.Failed, "Skipped: " + (archive is null ? "the repository is not reachable." : "archive_mode is off, so no segment would be archived."),
                        archive is null ? "Fix the repository first." : $"{enable}, then restart PostgreSQL.");
                else
                    await CheckSwitchAsync(connection, archive!, options, enable, Add, ct).ConfigureAwait(false);

                // After the switch: a repaired archive_command has just archived, so the archiver's state is today's.
                position = await ServerWalPosition.ReadAsync(connection, options.Server.Server, ct).ConfigureAwait(false);
                if (position.ArchiverFailing)
                    Add("Archiver", PgCheckStatus.Failed,
                        $"pg_stat_archiver: archiving {position.LastFailedWal} failed at {position.LastFailedTime:u}, after the last success " +
                        $"({position.LastArchivedWal ?? "none"}{(position.LastArchivedTime is { } t ? $" at {t:u}" : "")}); {position.FailedCount} failures since the statistics were reset.",
                        "Fix archive_command (see its check above); the server log holds its error output. PostgreSQL retries by itself; WAL waits in pg_wal meanwhile.");
                else
                    Add("Archiver", PgCheckStatus.OK, $"pg_stat_archiver: {position.ArchivedCount} archived, last {position.LastArchivedWal ?? "none"}; no failure since the last success.");

            }
        }
        finally
        {
            repository?.Dispose();
        }
        return checks;
    }

    private static async Task CheckWritableAsync(BackupRepository repository, Action<string, PgCheckStatus, string, string> add, CancellationToken ct)
    {
        string key = "checks/" + Guid.NewGuid().ToString("N");
        try
        {
            await using (var writer = await repository.Store.CreateAsync(key, overwrite: false, ct).ConfigureAwait(false))
            {
                await writer.WriteAsync("pgbt check\n"u8.ToArray(), ct).ConfigureAwait(false);
                await writer.CommitAsync(ct).ConfigureAwait(false);
            }
            await repository.Store.DeleteAsync(key, ct).ConfigureAwait(false);
            add("Repository writable", PgCheckStatus.OK, $"Wrote and removed {key} as this user. archive_command runs as the server's OS user, which needs write access too.", "");
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            add("Repository writable", PgCheckStatus.Failed, $"Could not write {key} into {repository.Location}: {e.Message}",
                "Give this user and the server's OS user (which runs archive_command) write access to the repository, or correct its credentials.");
        }
    }

    private static async Task<Dictionary<string, (string Value, bool PendingRestart)>> ReadSettingsAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        var settings = new Dictionary<string, (string, bool)>(StringComparer.Ordinal);
        await using var cmd = new NpgsqlCommand(
            "SELECT name, setting, coalesce(unit, ''), pending_restart FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_command', 'archive_timeout')", connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
            settings[reader.GetString(0)] = (reader.GetString(1) + (reader.GetString(0) == "archive_timeout" ? reader.GetString(2) : ""), reader.GetBoolean(3));
        return settings;
    }

    private static string? Setting(this Dictionary<string, (string Value, bool PendingRestart)> settings, string name) =>
        settings.TryGetValue(name, out var s) ? s.Value : null;

    private static void CheckSettings(Dictionary<string, (string Value, bool PendingRestart)> settings, ConfigurationCheckOptions options, string enable,
        Action<string, PgCheckStatus, string, string> add)
    {
        string restart = $"{enable}, then restart PostgreSQL (wal_level and archive_mode take effect only at a restart).";
        var (walLevel, walPending) = settings["wal_level"];
        if (walLevel == "minimal") add("wal_level", PgCheckStatus.Failed, "wal_level = minimal: WAL lacks what archiving and PITR need.", restart);
        else if (walPending) add("wal_level", PgCheckStatus.Warning, $"wal_level = {walLevel}, but a changed value waits for a restart.", "Restart PostgreSQL.");
        else add("wal_level", PgCheckStatus.OK, $"wal_level = {walLevel}.", "");

        var (archiveMode, modePending) = settings["archive_mode"];
        if (archiveMode == "off") add("archive_mode", PgCheckStatus.Failed, "archive_mode = off: PostgreSQL archives nothing.", restart);
        else if (modePending) add("archive_mode", PgCheckStatus.Warning, $"archive_mode = {archiveMode}, but a changed value waits for a restart.", "Restart PostgreSQL.");
        else add("archive_mode", PgCheckStatus.OK, $"archive_mode = {archiveMode}.", "");

        string command = settings["archive_command"].Value;
        string expected = WalCommands.ArchiveCommand(options.EntryPoint, options.Repository, options.Stanza);
        string setIt = $"{enable} sets archive_command = {expected} (and a reload applies it).";
        string repoOption = "--repo " + WalCommands.Quote(options.Repository);
        if (command == "(disabled)")
            add("archive_command", PgCheckStatus.Failed, "archive_mode is off, so PostgreSQL shows archive_command as '(disabled)' (whatever it is set to) and archives nothing.", setIt);
        else if (string.IsNullOrWhiteSpace(command))
            add("archive_command", PgCheckStatus.Failed, "archive_command is empty: nothing is archived.", setIt);
        else if (!command.Contains("pgbt-wal", StringComparison.Ordinal) || !command.Contains(" push %p", StringComparison.Ordinal))
            add("archive_command", PgCheckStatus.Failed, $"archive_command = {command}: it does not run pgbt-wal push %p, so WAL does not reach this repository.", setIt);
        else if (!command.Contains(repoOption + " ", StringComparison.Ordinal) && !command.EndsWith(repoOption, StringComparison.Ordinal))
            add("archive_command", PgCheckStatus.Failed, $"archive_command = {command}: it archives into another repository than {options.Repository}.", setIt);
        else if (options.Stanza == WalArchive.DefaultStanza ? command.Contains("--stanza", StringComparison.Ordinal) : !command.Contains("--stanza " + WalCommands.Quote(options.Stanza), StringComparison.Ordinal))
            add("archive_command", PgCheckStatus.Failed, $"archive_command = {command}: it archives into another stanza than '{options.Stanza}'.", setIt);
        else if (EntryPointOf(command) is { } path && !File.Exists(path))
            add("archive_command", PgCheckStatus.Warning, $"archive_command = {command}: {path} does not exist on this machine (fine only if the server runs elsewhere and has it there).", setIt);
        else
            add("archive_command", PgCheckStatus.OK, $"archive_command = {command}.", "");

        string timeout = settings["archive_timeout"].Value;
        var seconds = DurationText.TryParse(timeout, out var t) ? t : TimeSpan.Zero;
        string setTimeout = $"{enable} -ArchiveTimeout {Math.Max(1, (int)Math.Min(60, options.RpoTarget.TotalSeconds))} (or ALTER SYSTEM SET archive_timeout and a reload).";
        if (seconds == TimeSpan.Zero)
            add("archive_timeout", PgCheckStatus.Warning, "archive_timeout = 0: a quiet server may leave its last changes unarchived indefinitely, so the RPO has no bound.", setTimeout);
        else if (seconds > options.RpoTarget)
            add("archive_timeout", PgCheckStatus.Warning, $"archive_timeout = {timeout}, more than the RPO target {DurationText.Format(options.RpoTarget)}: a quiet server can miss it.", setTimeout);
        else
            add("archive_timeout", PgCheckStatus.OK, $"archive_timeout = {timeout} (within the RPO target {DurationText.Format(options.RpoTarget)}).", "");
    }

    /// <summary>The executable archive_command starts: its first, single-quoted (Windows: double-quoted) word.</summary>
    private static string? EntryPointOf(string command)
    {
        char quote = OperatingSystem.IsWindows() ? '"' : '\'';
        if (command.Length < 2 || command[0] != quote) return null;
        int end = command.IndexOf(quote, 1);
        return end < 0 ? null : command[1..end].Replace("%%", "%", StringComparison.Ordinal);
    }

    private static async Task CheckStanzaAsync(WalArchive archive, ServerWalPosition position, ConfigurationCheckOptions options,
        Action<string, PgCheckStatus, string, string> add, CancellationToken ct)
    {
        WalArchiveBinding? binding;
        try
        {
            binding = await archive.ReadBindingAsync(ct).ConfigureAwait(false);
        }
        catch (PgBackupException e)
        {
            add("Stanza", PgCheckStatus.Failed, e.Message, $"Repair or remove {archive.BindingKey} (no WAL is archived into the stanza until then).");
            return;
        }
        if (binding is null)
            add("Stanza", PgCheckStatus.Warning, $"Stanza '{options.Stanza}' has no WAL yet: the first archived segment binds it to this cluster ({position.SystemIdentifier}).", "The WAL switch check below archives one.");
        else if (binding.SystemIdentifier != position.SystemIdentifier)
            add("Stanza", PgCheckStatus.Failed,
                $"Stanza '{options.Stanza}' archives the cluster {binding.SystemIdentifier}, but {options.Server.Server} is the cluster {position.SystemIdentifier}: its WAL is refused.",
                $"Give this cluster a stanza of its own: Enable-PgWalArchiving -Repository '{options.Repository}' -Stanza <name>, and use that stanza everywhere.");
        else
            add("Stanza", PgCheckStatus.OK, $"Stanza '{options.Stanza}' is bound to this cluster ({binding.SystemIdentifier}, {binding.WalSegmentSize / (1024 * 1024)} MiB segments).", "");
    }

    private static async Task CheckSwitchAsync(NpgsqlConnection connection, WalArchive archive, ConfigurationCheckOptions options, string enable,
        Action<string, PgCheckStatus, string, string> add, CancellationToken ct)
    {
        // The server's clock, so that "a failure after the switch" does not depend on this machine's.
        var started = (await ServerWalPosition.ReadAsync(connection, options.Server.Server, ct).ConfigureAwait(false)).Now;
        string segment;
        try
        {
            // A restore point is a WAL record, so the switch has something to archive even on an idle server.
            try
            {
                await using var point = new NpgsqlCommand("SELECT pg_create_restore_point('pgbt configuration check')", connection);
                await point.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            catch (PostgresException) { /* not allowed for this role: the switch alone still works on a busy server */ }
            await using var cmd = new NpgsqlCommand("SELECT pg_walfile_name(pg_switch_wal())", connection);
            segment = (string)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }
        catch (PostgresException e)
        {
            add("WAL switch", PgCheckStatus.Failed, $"pg_switch_wal() failed: {e.MessageText}", "Run the check as a superuser or a role granted EXECUTE on pg_switch_wal().");
            return;
        }
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await archive.ContainsAsync(segment, ct).ConfigureAwait(false))
            {
                add("WAL switch", PgCheckStatus.OK, $"pg_switch_wal() closed segment {segment}; it reached stanza '{archive.Stanza}' of the repository in {clock.Elapsed.TotalSeconds:F1} s.", "");
                return;
            }
            var position = await ServerWalPosition.ReadAsync(connection, options.Server.Server, ct).ConfigureAwait(false);
            // The archiver goes in order: a failure after the switch, on this segment or an older one, means this one cannot arrive.
            if (position.ArchiverFailing && position.LastFailedTime >= started)
            {
                add("WAL switch", PgCheckStatus.Failed,
                    $"pg_switch_wal() closed segment {segment}, and archive_command failed after the switch ({position.LastFailedWal} at {position.LastFailedTime:u}; {position.FailedCount} failures so far).",
                    $"Fix archive_command (see its check above; the server log has its error output). {enable} sets it to archive into this repository.");
                return;
            }
            if (clock.Elapsed >= options.Timeout)
            {
                add("WAL switch", PgCheckStatus.Failed,
                    $"pg_switch_wal() closed segment {segment}, but it is not in stanza '{archive.Stanza}' of {archive.Repository.Location} after {options.Timeout.TotalSeconds:F0} s.",
                    "Check archive_command and the server log; if archiving is only slow (a backlog in pg_wal), wait and run the check again, or give a longer -Timeout.");
                return;
            }
            await Task.Delay(250, ct).ConfigureAwait(false);
        }
    }
}
