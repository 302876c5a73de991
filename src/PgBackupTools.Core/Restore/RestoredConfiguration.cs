using System.Text;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Restore;

/// <summary>
/// The configuration files a physical backup carries from outside the server's data directory, written into the
/// restored data directory so that pg_ctl -D starts it as it is (Debian and Ubuntu keep them in
/// /etc/postgresql/&lt;version&gt;/&lt;cluster&gt;):
/// - config_file becomes postgresql.conf, hba_file pg_hba.conf and ident_file pg_ident.conf (the defaults for a
///   postgresql.conf in the data directory); files beside config_file keep their place relative to it (conf.d/...),
///   others go to pgbt-config/&lt;original absolute path&gt;;
/// - in every file, data_directory, hba_file, ident_file, external_pid_file and stats_temp_directory are commented out:
///   they name the original cluster's files (its data directory, its pid file under /var/run/postgresql), which a
///   restored copy must never use; include, include_if_exists and include_dir are pointed at the restored copies.
/// Restored into the original cluster's own directory, Debian's pg_ctlcluster still starts it with
/// -c config_file=/etc/postgresql/..., and the postgresql.conf written here is not read.
/// </summary>
public static class RestoredConfiguration
{
    public const string OutsideFolder = "pgbt-config";

    private static readonly HashSet<string> OriginalOnly = new(StringComparer.Ordinal)
    {
        "data_directory", "hba_file", "ident_file", "external_pid_file", "stats_temp_directory",
    };

    // Bytes read as Latin-1 round-trip exactly, whatever the file's encoding; only ASCII parts are rewritten.
    private static readonly Encoding Bytes = Encoding.Latin1;

    /// <summary>
    /// The captured files' contents, read and checked against the backup's checksums (small files: before a restore
    /// writes anything, so a damaged one stops it there); empty when the backup carries no external postgresql.conf
    /// (its data directory has its own, or the backup predates capturing it).
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, byte[]>> ReadAsync(BackupRepository repository, PgBackup backup, CancellationToken ct)
    {
        var contents = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var config = backup.Configuration;
        if (config is null || !config.HasExternalConfigFile) return contents;
        foreach (var file in config.Files.Where(f => f.BackupFile is not null))
        {
            var stored = backup.Files.SingleOrDefault(f => f.Name == file.BackupFile)
                ?? throw new Errors.PgBackupException(Errors.FailureKind.InvalidData, $"Backup {backup.Id} records {file.Path} as {file.BackupFile}, which is not among its files.", backup.Id);
            using var content = new MemoryStream();
            await BackupFileReader.CopyVerifiedAsync(repository, backup, stored, content, null, ct).ConfigureAwait(false);
            contents[file.Path] = content.ToArray();
        }
        return contents;
    }

    /// <summary>Writes what <see cref="ReadAsync"/> read into <paramref name="dataDir"/>; returns the files and directories it created.</summary>
    public static IReadOnlyList<string> Write(PgBackup backup, IReadOnlyDictionary<string, byte[]> contents, string dataDir, OperationContext context)
    {
        var config = backup.Configuration;
        if (config is null || contents.Count == 0) return [];
        // What the data directory held before any of this was written: a place for a file beside config_file is taken if its first part is there.
        var taken = Directory.EnumerateFileSystemEntries(dataDir).Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        var places = Places(config, taken);
        var targets = contents.Keys.ToDictionary(path => path, path => Inside(dataDir, places[path], path), StringComparer.Ordinal); // all checked before one is written
        var written = new List<string>();
        foreach (var (path, content) in contents)
        {
            string target = targets[path];
            var lines = Rewrite(Bytes.GetString(content), path, target, config, places, taken, dataDir, written, context);
            if (path == config.ConfigFile) lines.AddRange(PointAtUncapturedFiles(config, dataDir, context));
            WriteFile(target, lines, written);
            context.Log($"{path} restored as {target}.");
        }
        foreach (string directory in written.Select(w => Path.GetDirectoryName(w)!).Distinct()) FileSync.SyncDirectory(directory);
        return written;
    }

    /// <summary><see cref="ReadAsync"/> then <see cref="Write"/>.</summary>
    public static async Task<IReadOnlyList<string>> RestoreAsync(BackupRepository repository, PgBackup backup, string dataDir, OperationContext context) =>
        Write(backup, await ReadAsync(repository, backup, context.CancellationToken).ConfigureAwait(false), dataDir, context);

    /// <summary>Where each captured file goes, relative to the restored data directory.</summary>
    private static Dictionary<string, string> Places(PgBackupConfiguration config, IReadOnlySet<string?> taken)
    {
        string configDir = Path.GetDirectoryName(config.ConfigFile)!;
        var places = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in config.Files.Where(f => f.BackupFile is not null))
            places[file.Path] = file.Path == config.ConfigFile ? "postgresql.conf"
                : file.Path == config.HbaFile ? "pg_hba.conf"
                : file.Path == config.IdentFile ? "pg_ident.conf"
                : PlaceOf(file.Path, configDir, taken);
        return places;
    }

    /// <summary>Beside postgresql.conf as beside config_file, unless that would meet a file of the data directory.</summary>
    private static string PlaceOf(string path, string configDir, IReadOnlySet<string?> taken)
    {
        if (ConfigurationFileSyntax.IsInside(path, configDir))
        {
            string relative = Path.GetRelativePath(configDir, path);
            string top = relative.Split('/')[0];
            if (top is not ("postgresql.conf" or "pg_hba.conf" or "pg_ident.conf" or "postgresql.auto.conf" or OutsideFolder)
                && !taken.Contains(top))
                return relative;
        }
        return OutsideFolder + "/" + path.TrimStart('/');
    }

    private static List<string> Rewrite(string text, string originalPath, string target, PgBackupConfiguration config, Dictionary<string, string> places,
        IReadOnlySet<string?> taken, string dataDir, List<string> written, OperationContext context)
    {
        var lines = new List<string>();
        foreach (string line in text.Split('\n'))
        {
            var setting = ConfigurationFileSyntax.Parse(line);
            if (setting is null) { lines.Add(line); continue; }
            if (OriginalOnly.Contains(setting.Name))
            {
                lines.Add("# " + line.TrimEnd('\r') + "   # commented out by PgBackupTools: names the original cluster's file");
                continue;
            }
            if (!ConfigurationFileSyntax.IncludeDirectives.Contains(setting.Name)) { lines.Add(line); continue; }
            string included = ConfigurationFileSyntax.ResolveInclude(originalPath, Utf8(setting.Value));
            string? restored = ConfigurationFileSyntax.IsInside(included, config.DataDirectory) ? Inside(dataDir, Path.GetRelativePath(config.DataDirectory, included), included) // in the base tar
                : setting.Name == "include_dir" ? Inside(dataDir, PlaceOf(included, Path.GetDirectoryName(config.ConfigFile)!, taken), included)
                : places.TryGetValue(included, out string? place) ? Inside(dataDir, place, included) : null;
            if (setting.Name == "include_dir")
            {
                // An include_dir that is missing stops the server; its files (if any) are written into it as well.
                CreatePrivateDirectory(restored!, written);
            }
            else if (restored is null)
            {
                if (setting.Name == "include") context.Warn($"{originalPath} includes {included}, which the backup does not carry; the restored {target} still includes it from there.");
                restored = included;
            }
            // Inside the restored directory: relative to the including file, so the directory can still be moved.
            string value = ConfigurationFileSyntax.IsInside(restored!, dataDir) ? Path.GetRelativePath(Path.GetDirectoryName(target)!, restored!) : restored!;
            lines.Add("# " + line.TrimEnd('\r') + "   # original, rewritten by PgBackupTools for the restored copy:");
            lines.Add($"{setting.Name} = {Latin1(ConfigurationFileSyntax.Quote(value))}");
        }
        return lines;
    }

    /// <summary>hba_file and ident_file the backup could not carry, or kept at another name in the data directory: named explicitly.</summary>
    private static IEnumerable<string> PointAtUncapturedFiles(PgBackupConfiguration config, string dataDir, OperationContext context)
    {
        foreach (var (name, path, standard) in new[] { ("hba_file", config.HbaFile, "pg_hba.conf"), ("ident_file", config.IdentFile, "pg_ident.conf") })
        {
            string? where = null;
            if (ConfigurationFileSyntax.IsInside(path, config.DataDirectory))
            {
                string relative = Path.GetRelativePath(config.DataDirectory, path);
                if (relative != standard) where = Path.Combine(dataDir, relative);
            }
            else if (config.Files.Any(f => f.Path == path && f.BackupFile is null))
            {
                where = path;
                context.Warn($"The backup does not carry {path} (the server's {name}); the restored postgresql.conf names it where it was, which only exists on the original host.");
            }
            if (where is not null) yield return $"{name} = {Latin1(ConfigurationFileSyntax.Quote(where))}   # added by PgBackupTools";
        }
    }

    private static void WriteFile(string path, List<string> lines, List<string> written)
    {
        CreatePrivateDirectory(Path.GetDirectoryName(path)!, written);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options))
        {
            stream.Write(Bytes.GetBytes(string.Join('\n', lines)));
            stream.Flush(flushToDisk: true);
        }
        written.Add(path);
    }

    /// <summary>
    /// <paramref name="relative"/> under the restored data directory; as the tar's entries, a place outside it (a
    /// manifest path with "..") is refused, never written.
    /// </summary>
    private static string Inside(string dataDir, string relative, string original)
    {
        string full = Path.GetFullPath(Path.Combine(dataDir, relative));
        if (!ConfigurationFileSyntax.IsInside(full, dataDir))
            throw new Errors.PgBackupException(Errors.FailureKind.InvalidData, $"The backup's configuration file {original} would be restored at {full}, outside the data directory {dataDir}; nothing of it was written.", original);
        return full;
    }


    /// <summary>Creates <paramref name="path"/> and the parents it needs (0700), each listed in <paramref name="written"/> (they are given to the server's user too).</summary>
    private static void CreatePrivateDirectory(string path, List<string> written)
    {
        var missing = new Stack<string>();
        for (string? at = path; at is not null && !Directory.Exists(at); at = Path.GetDirectoryName(at)) missing.Push(at);
        foreach (string directory in missing)
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
            else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            written.Add(directory);
        }
    }

    private static string Utf8(string latin1) => Encoding.UTF8.GetString(Bytes.GetBytes(latin1));
    private static string Latin1(string text) => Bytes.GetString(Encoding.UTF8.GetBytes(text));
}
