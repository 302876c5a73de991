using System.Text.Json.Serialization;

namespace PgBackupTools;

/// <summary>
/// Physical backups: where the backed-up server read its configuration from, and the configuration files outside its
/// data directory that the backup carries (Debian and Ubuntu keep postgresql.conf, pg_hba.conf, pg_ident.conf and
/// conf.d in /etc/postgresql/&lt;version&gt;/&lt;cluster&gt;). Files inside the data directory are in the base tar
/// already. Null in manifests written before configuration was captured.
/// </summary>
public sealed class PgBackupConfiguration
{
    /// <summary>The server's data_directory when the backup was taken.</summary>
    public string DataDirectory { get; set; } = "";
    /// <summary>The server's config_file (SHOW config_file).</summary>
    public string ConfigFile { get; set; } = "";
    /// <summary>The server's hba_file (SHOW hba_file).</summary>
    public string HbaFile { get; set; } = "";
    /// <summary>The server's ident_file (SHOW ident_file).</summary>
    public string IdentFile { get; set; } = "";
    /// <summary>Every configuration file outside the data directory, captured or not.</summary>
    public List<PgBackupConfigurationFile> Files { get; set; } = [];

    /// <summary>True if postgresql.conf lives outside the data directory and the backup carries it.</summary>
    [JsonIgnore] public bool HasExternalConfigFile => Files.Any(f => f.Path == ConfigFile && f.BackupFile is not null);
}

/// <summary>One configuration file outside the data directory: its original absolute path, and the backup file that holds it (null: not captured, and why).</summary>
public sealed class PgBackupConfigurationFile
{
    /// <summary>The absolute path the server read it from.</summary>
    public string Path { get; set; } = "";
    /// <summary>The name of the backup file (in PgBackup.Files) that holds its content; null when it could not be captured.</summary>
    public string? BackupFile { get; set; }
    /// <summary>Why it is not in the backup (not readable here, not found, too large); null when captured.</summary>
    public string? NotCaptured { get; set; }

    public override string ToString() => Path;
}
