using Npgsql;
using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// Turns on continuous archiving into a repository with ALTER SYSTEM (postgresql.auto.conf): wal_level at least
/// replica, archive_mode on, archive_command = pgbt-wal push, archive_timeout. Then pg_reload_conf(); wal_level and
/// archive_mode need a restart, which is reported, never done.
/// </summary>
public static class WalArchivingSetup
{
    private static readonly string[] Names = ["wal_level", "archive_mode", "archive_command", "archive_timeout"];

    /// <summary>What Enable-PgWalArchiving would change on the server <paramref name="info"/> names.</summary>
    /// <param name="passphraseFile">For an encrypted repository: the key file pgbt-wal reads (--passphrase-file).</param>
    public static async Task<PgWalArchivingResult> PlanAsync(PgConnectionInfo info, string entryPoint, string repository, string stanza,
        int archiveTimeoutSeconds, CancellationToken ct, string? passphraseFile = null)
    {
        await using var connection = await PgServer.OpenAsync(info, ct).ConfigureAwait(false);
        return await PlanAsync(connection, info.Server, entryPoint, repository, stanza, archiveTimeoutSeconds, ct, passphraseFile).ConfigureAwait(false);
    }

    /// <summary>Applies a plan with ALTER SYSTEM and reloads the configuration.</summary>
    public static async Task ApplyAsync(PgConnectionInfo info, PgWalArchivingResult plan, CancellationToken ct)
    {
        await using var connection = await PgServer.OpenAsync(info, ct).ConfigureAwait(false);
        await ApplyAsync(connection, plan, ct).ConfigureAwait(false);
    }

    internal static async Task<PgWalArchivingResult> PlanAsync(NpgsqlConnection connection, string server, string entryPoint, string repository, string stanza,
        int archiveTimeoutSeconds, CancellationToken ct, string? passphraseFile = null)
    {
        var current = new Dictionary<string, string>(StringComparer.Ordinal);
        bool pendingRestart = false; // an earlier ALTER SYSTEM whose restart has not happened yet
        await using (var cmd = new NpgsqlCommand("SELECT name, setting, coalesce(unit, ''), pending_restart FROM pg_settings WHERE name = ANY($1)", connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = Names });
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                current[reader.GetString(0)] = reader.GetString(0) == "archive_timeout" ? reader.GetString(1) + reader.GetString(2) : reader.GetString(1);
                pendingRestart |= reader.GetBoolean(3);
            }
        }
        string archiveCommand = WalCommands.ArchiveCommand(entryPoint, repository, stanza, passphraseFile);
        var result = new PgWalArchivingResult
        {
            Server = server,
            Repository = repository,
            Stanza = stanza,
            ArchiveCommand = archiveCommand,
            RestoreCommand = WalCommands.RestoreCommand(entryPoint, repository, stanza, passphraseFile: passphraseFile),
        };
        string walLevel = current["wal_level"] == "minimal" ? "replica" : current["wal_level"];        // logical includes replica
        string archiveMode = current["archive_mode"] == "off" ? "on" : current["archive_mode"];         // 'always' archives on standbys too
        result.Settings.Add(new PgSettingChange("wal_level", current["wal_level"], walLevel));
        result.Settings.Add(new PgSettingChange("archive_mode", current["archive_mode"], archiveMode));
        result.Settings.Add(new PgSettingChange("archive_command", current["archive_command"], archiveCommand));
        result.Settings.Add(new PgSettingChange("archive_timeout", current["archive_timeout"], archiveTimeoutSeconds + "s"));
        result.RestartRequired = pendingRestart || result.Settings.Any(s => s.Changed && s.Name is "wal_level" or "archive_mode");
        return result;
    }

    internal static async Task ApplyAsync(NpgsqlConnection connection, PgWalArchivingResult plan, CancellationToken ct)
    {
        foreach (var change in plan.Settings.Where(s => s.Changed))
        {
            // ALTER SYSTEM takes no bind parameters: the value is a quoted literal.
            await using var cmd = new NpgsqlCommand($"ALTER SYSTEM SET {change.Name} = {PgServer.QuoteLiteral(change.After)}", connection);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await using (var reload = new NpgsqlCommand("SELECT pg_reload_conf()", connection))
            await reload.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        plan.Applied = true;
    }
}
