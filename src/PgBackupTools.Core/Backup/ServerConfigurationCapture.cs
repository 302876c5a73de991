using System.Text;
using Npgsql;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// The server's configuration files that live outside its data directory (Debian and Ubuntu:
/// /etc/postgresql/&lt;version&gt;/&lt;cluster&gt;), stored into a physical backup as files of their own
/// (config/&lt;original path&gt;, through the same compression, encryption and checksums as base.tar), so that a
/// restore on a lost machine has them. Which files: config_file, hba_file, ident_file, every file pg_file_settings
/// says the server read (include, include_if_exists, include_dir), and what the include directives of those name
/// (an empty included file has no setting for pg_file_settings to show). Only configuration files: a key or
/// certificate a setting names (ssl_key_file) is never read.
/// Read here when this is the server's host (its pg_control readable here with the server's system identifier),
/// else, or when not readable here, through the server (pg_read_binary_file: superuser or pg_read_server_files).
/// A file that cannot be read does not fail the backup: it is recorded as not captured, with a warning.
/// </summary>
internal static class ServerConfigurationCapture
{
    public const string Folder = "config";
    private const long MaxFileBytes = 16L << 20;

    /// <remarks>
    /// On a connection of its own: a failed read is an error on the session that ran it (and Npgsql closes the
    /// connection after some, e.g. "could not stat file"), which must not touch the backup's own session.
    /// </remarks>
    /// <param name="carriesPostgresqlConf">The base tar holds a postgresql.conf: when the role cannot say where the configuration is, that is only logged.</param>
    public static async Task CaptureAsync(BackupRepository repository, PgConnectionInfo server, ServerFacts facts, PgBackup backup, bool carriesPostgresqlConf,
        CompressionKind compression, int? level, EncryptionKey? key, OperationContext context)
    {
        var ct = context.CancellationToken;
        await using var session = new ServerSession(server);
        PgBackupConfiguration config;
        try
        {
            var connection = await session.OpenAsync(ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT current_setting('data_directory'), current_setting('config_file'), current_setting('hba_file'), current_setting('ident_file')", connection);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            string dataDirectory = reader.GetString(0);
            // The server resolves a relative path from its data directory (its working directory), never from ours.
            string Absolute(int column) => Path.GetFullPath(reader.GetString(column), dataDirectory);
            config = new PgBackupConfiguration { DataDirectory = dataDirectory, ConfigFile = Absolute(1), HbaFile = Absolute(2), IdentFile = Absolute(3) };
        }
        catch (Exception e) when (e is NpgsqlException or Errors.PgBackupException)
        {
            string why = e is PostgresException pg ? $"the role cannot read where they are ({pg.MessageText}; pg_read_all_settings grants it)" : e.Message;
            // A server whose postgresql.conf is in its data directory (the tar carries it) most likely keeps the rest there too: no warning on every backup.
            if (carriesPostgresqlConf) context.Log($"Configuration files outside the data directory were not looked for: {why}. The backup carries the data directory's postgresql.conf.");
            else context.Warn($"Backup {backup.Id} does not carry the server's configuration files: {why}. A restore that needs them (Debian and Ubuntu keep them outside the data directory) will say what to copy by hand.");
            return;
        }
        bool onServerHost = PhysicalBackupJob.CheckLocalDataDirectory(config.DataDirectory, facts.SystemIdentifier) is null;

        var queue = new Queue<(string Path, bool Optional)>(new[] { config.ConfigFile, config.HbaFile, config.IdentFile }
            .Concat(await ReadSourceFilesAsync(session, context).ConfigureAwait(false)).Select(p => (p, false)));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (queue.TryDequeue(out var next))
        {
            string path = next.Path;
            if (!seen.Add(path) || ConfigurationFileSyntax.IsInside(path, config.DataDirectory)) continue;
            var (content, notRead) = await ReadAsync(session, path, onServerHost, ct).ConfigureAwait(false);
            if (content is null && next.Optional)
            {
                // include_if_exists of a file that is not there is the normal case of that directive.
                context.Log($"{path} (include_if_exists) is not in the backup: {notRead}.");
                continue;
            }
            var entry = new PgBackupConfigurationFile { Path = path };
            config.Files.Add(entry);
            if (content is null)
            {
                entry.NotCaptured = notRead;
                context.Warn($"{path}, a configuration file of {backup.Server} outside its data directory, is not in backup {backup.Id}: {notRead}. A restore into another directory or host will need it copied by hand; the backup itself is complete.");
                continue;
            }
            string name = StoredName(path, config.Files.Count, Compression.FileExtension(compression) + (key is null ? "" : BackupRepository.EncryptedExtension), backup);
            await using (var output = await BackupObjectWriter.CreateAsync(repository, BackupRepository.BackupFileKey(backup.Stanza, backup.Id, name), compression, level, key, ct).ConfigureAwait(false))
            {
                await output.Raw.WriteAsync(content, ct).ConfigureAwait(false);
                backup.Files.Add(await output.CommitAsync(name, ct).ConfigureAwait(false));
            }
            entry.BackupFile = name;
            // Every file an include names is configuration too; include_dir adds its *.conf files (those with settings
            // came from pg_file_settings already: the listing adds empty ones, where it can be read).
            foreach (var setting in Encoding.UTF8.GetString(content).Split('\n').Select(ConfigurationFileSyntax.Parse))
            {
                if (setting is null || !ConfigurationFileSyntax.IncludeDirectives.Contains(setting.Name)) continue;
                string target = ConfigurationFileSyntax.ResolveInclude(path, setting.Value);
                if (setting.Name != "include_dir") queue.Enqueue((target, setting.Name == "include_if_exists"));
                else foreach (string file in await ListDirectoryAsync(session, target, onServerHost, ct).ConfigureAwait(false)) queue.Enqueue((file, false));
            }
        }
        backup.Configuration = config;
        int captured = config.Files.Count(f => f.BackupFile is not null);
        context.Log(config.Files.Count == 0
            ? $"The server's configuration files are in its data directory ({config.ConfigFile}): the base backup carries them."
            : $"Captured {captured} of {config.Files.Count} configuration file(s) outside the data directory: {string.Join(", ", config.Files.Where(f => f.BackupFile is not null).Select(f => f.Path))}.");
    }

    /// <summary>The repository name of a captured file: config/ and its absolute path (config/etc/postgresql/15/main/pg_hba.conf.zst).</summary>
    /// <remarks>A path that makes no valid key, or the same name as another (C:\a and C_\a), is stored by its position instead.</remarks>
    private static string StoredName(string path, int index, string extension, PgBackup backup)
    {
        string relative = path.Replace('\\', '/').Replace(':', '_').TrimStart('/');
        string name = Folder + "/" + relative + extension;
        bool valid;
        try { Storage.StorageKey.Validate(name); valid = true; }
        catch (Errors.PgBackupException) { valid = false; }
        return valid && !backup.Files.Any(f => f.Name == name) ? name : $"{Folder}/{index:D3}-{Path.GetFileName(relative)}{extension}";
    }

    /// <summary>pg_file_settings.sourcefile: every configuration file the server reads that holds a setting (superuser only by default).</summary>
    private static async Task<List<string>> ReadSourceFilesAsync(ServerSession session, OperationContext context)
    {
        var files = new List<string>();
        try
        {
            var connection = await session.OpenAsync(context.CancellationToken).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT DISTINCT sourcefile FROM pg_file_settings WHERE sourcefile IS NOT NULL ORDER BY 1", connection);
            await using var reader = await cmd.ExecuteReaderAsync(context.CancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(context.CancellationToken).ConfigureAwait(false)) files.Add(reader.GetString(0));
        }
        catch (Exception e) when (e is NpgsqlException or Errors.PgBackupException)
        {
            await session.ResetAsync().ConfigureAwait(false);
            context.Log($"pg_file_settings is not readable ({(e as PostgresException)?.MessageText ?? e.Message}): the configuration files are found from config_file's include directives only.");
        }
        return files;
    }

    private static async Task<(byte[]? Content, string? NotRead)> ReadAsync(ServerSession session, string path, bool onServerHost, CancellationToken ct)
    {
        string? localFailure = null;
        if (onServerHost)
        {
            try
            {
                var info = new FileInfo(path);
                if (info.Exists && info.Length > MaxFileBytes) return (null, $"it is {info.Length:N0} bytes, more than a configuration file holds");
                return (await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false), null);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                localFailure = $"not readable here ({e.Message})";
            }
        }
        try
        {
            var connection = await session.OpenAsync(ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT s.size, CASE WHEN s.size <= $2 THEN pg_read_binary_file($1, true) END FROM pg_stat_file($1, true) AS s", connection)
            {
                Parameters = { new() { Value = path }, new() { Value = MaxFileBytes } },
            };
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            if (reader.IsDBNull(0)) return (null, (localFailure ?? "this is not the server's host") + ", and the server finds no such file");
            if (reader.IsDBNull(1)) return (null, $"it is {reader.GetInt64(0):N0} bytes, more than a configuration file holds");
            return (reader.GetFieldValue<byte[]>(1), null);
        }
        catch (Exception e) when (e is NpgsqlException or Errors.PgBackupException)
        {
            await session.ResetAsync().ConfigureAwait(false);
            string server = $"the server could not read it either ({(e as PostgresException)?.MessageText ?? e.Message}{(e is PostgresException { SqlState: "42501" } ? "; pg_read_server_files grants it" : "")})";
            return (null, localFailure is null ? $"this is not the server's host, and {server}" : $"{localFailure}, and {server}");
        }
    }

    /// <summary>The *.conf files of an include_dir (not those starting with '.'), as PostgreSQL reads them; empty when the directory cannot be listed.</summary>
    private static async Task<List<string>> ListDirectoryAsync(ServerSession session, string directory, bool onServerHost, CancellationToken ct)
    {
        static bool IsConf(string name) => name.EndsWith(".conf", StringComparison.Ordinal) && !name.StartsWith('.');
        if (onServerHost)
        {
            try { return Directory.EnumerateFiles(directory).Where(f => IsConf(Path.GetFileName(f))).Order(StringComparer.Ordinal).ToList(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        var files = new List<string>();
        try
        {
            var connection = await session.OpenAsync(ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT pg_ls_dir($1, true, false) ORDER BY 1", connection) { Parameters = { new() { Value = directory } } };
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                if (IsConf(reader.GetString(0))) files.Add(Path.Combine(directory, reader.GetString(0)));
        }
        catch (Exception e) when (e is NpgsqlException or Errors.PgBackupException)
        {
            await session.ResetAsync().ConfigureAwait(false);
        }
        return files;
    }

    /// <summary>A connection to the server opened when first needed and again after a failed statement.</summary>
    private sealed class ServerSession(PgConnectionInfo server) : IAsyncDisposable
    {
        private NpgsqlConnection? _connection;

        public async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
        {
            if (_connection is { State: System.Data.ConnectionState.Open } open) return open;
            await ResetAsync().ConfigureAwait(false);
            return _connection = await PgServer.OpenAsync(server, ct).ConfigureAwait(false);
        }

        public async Task ResetAsync()
        {
            if (_connection is not null) await _connection.DisposeAsync().ConfigureAwait(false);
            _connection = null;
        }

        public ValueTask DisposeAsync() => _connection?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
