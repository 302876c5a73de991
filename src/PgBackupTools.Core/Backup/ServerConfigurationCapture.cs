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

    public static async Task CaptureAsync(BackupRepository repository, NpgsqlConnection connection, PgBackup backup, bool onServerHost,
        CompressionKind compression, int? level, EncryptionKey? key, OperationContext context)
    {
        var ct = context.CancellationToken;
        PgBackupConfiguration config;
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT current_setting('data_directory'), current_setting('config_file'), current_setting('hba_file'), current_setting('ident_file')", connection);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            config = new PgBackupConfiguration { DataDirectory = reader.GetString(0), ConfigFile = reader.GetString(1), HbaFile = reader.GetString(2), IdentFile = reader.GetString(3) };
        }
        catch (PostgresException e)
        {
            context.Warn($"Backup {backup.Id} does not carry the server's configuration files: the role cannot read where they are ({e.MessageText}; pg_read_all_settings grants it). A restore that needs them (Debian and Ubuntu keep them outside the data directory) will say what to copy by hand.");
            return;
        }

        var queue = new Queue<(string Path, bool Optional)>(new[] { config.ConfigFile, config.HbaFile, config.IdentFile }
            .Concat(await ReadSourceFilesAsync(connection, context).ConfigureAwait(false)).Select(p => (p, false)));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (queue.TryDequeue(out var next))
        {
            string path = next.Path;
            if (!seen.Add(path) || IsInside(path, config.DataDirectory)) continue;
            var (content, notRead) = await ReadAsync(connection, path, onServerHost, ct).ConfigureAwait(false);
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
            string name = StoredName(path, config.Files.Count) + Compression.FileExtension(compression) + (key is null ? "" : BackupRepository.EncryptedExtension);
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
                else foreach (string file in await ListDirectoryAsync(connection, target, onServerHost, ct).ConfigureAwait(false)) queue.Enqueue((file, false));
            }
        }
        backup.Configuration = config;
        int captured = config.Files.Count(f => f.BackupFile is not null);
        context.Log(config.Files.Count == 0
            ? $"The server's configuration files are in its data directory ({config.ConfigFile}): the base backup carries them."
            : $"Captured {captured} of {config.Files.Count} configuration file(s) outside the data directory: {string.Join(", ", config.Files.Where(f => f.BackupFile is not null).Select(f => f.Path))}.");
    }

    /// <summary>The repository name of a captured file: config/ and its absolute path (config/etc/postgresql/15/main/pg_hba.conf).</summary>
    private static string StoredName(string path, int index)
    {
        string relative = path.Replace('\\', '/').Replace(':', '_').TrimStart('/');
        string name = Folder + "/" + relative;
        try { Storage.StorageKey.Validate(name); return name; }
        catch (Errors.PgBackupException) { return $"{Folder}/{index:D3}-{Path.GetFileName(relative)}"; }
    }

    private static bool IsInside(string path, string directory) =>
        path.StartsWith(directory.TrimEnd('/') + "/", StringComparison.Ordinal);

    /// <summary>pg_file_settings.sourcefile: every configuration file the server reads that holds a setting (superuser only by default).</summary>
    private static async Task<List<string>> ReadSourceFilesAsync(NpgsqlConnection connection, OperationContext context)
    {
        var files = new List<string>();
        try
        {
            await using var cmd = new NpgsqlCommand("SELECT DISTINCT sourcefile FROM pg_file_settings WHERE sourcefile IS NOT NULL ORDER BY 1", connection);
            await using var reader = await cmd.ExecuteReaderAsync(context.CancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(context.CancellationToken).ConfigureAwait(false)) files.Add(reader.GetString(0));
        }
        catch (PostgresException e)
        {
            context.Log($"pg_file_settings is not readable ({e.MessageText}): the configuration files are found from config_file's include directives only.");
        }
        return files;
    }

    private static async Task<(byte[]? Content, string? NotRead)> ReadAsync(NpgsqlConnection connection, string path, bool onServerHost, CancellationToken ct)
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
            await using var cmd = new NpgsqlCommand("SELECT CASE WHEN (pg_stat_file($1)).size <= $2 THEN pg_read_binary_file($1) END", connection)
            {
                Parameters = { new() { Value = path }, new() { Value = MaxFileBytes } },
            };
            var content = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return content is byte[] bytes ? (bytes, null) : (null, $"it is larger than {MaxFileBytes:N0} bytes");
        }
        catch (PostgresException e)
        {
            string server = $"the server could not read it either ({e.MessageText}{(e.SqlState == "42501" ? "; pg_read_server_files grants it" : "")})";
            return (null, localFailure is null ? $"this is not the server's host, and {server}" : $"{localFailure}, and {server}");
        }
    }

    /// <summary>The *.conf files of an include_dir (not those starting with '.'), as PostgreSQL reads them; empty when the directory cannot be listed.</summary>
    private static async Task<List<string>> ListDirectoryAsync(NpgsqlConnection connection, string directory, bool onServerHost, CancellationToken ct)
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
            await using var cmd = new NpgsqlCommand("SELECT pg_ls_dir($1) ORDER BY 1", connection) { Parameters = { new() { Value = directory } } };
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
                if (IsConf(reader.GetString(0))) files.Add(Path.Combine(directory, reader.GetString(0)));
        }
        catch (PostgresException) { }
        return files;
    }
}
