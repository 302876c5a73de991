using System.Text.Json.Serialization;

namespace PgBackupTools;

[JsonConverter(typeof(JsonStringEnumConverter<BackupType>))]
public enum BackupType { Logical, Physical, Snapshot }

[JsonConverter(typeof(JsonStringEnumConverter<DumpFormat>))]
public enum DumpFormat { Plain, Custom, Directory }

/// <summary>
/// One backup as its manifest records it: everything a restore or an audit needs. This is also the object the
/// cmdlets write and take from the pipeline. It exists only if its manifest exists in the repository.
/// </summary>
public sealed class PgBackup
{
    public int ManifestVersion { get; set; } = 1;
    public string Id { get; set; } = "";
    public BackupType Type { get; set; }
    public string Stanza { get; set; } = "";
    public string? Database { get; set; }
    public string Server { get; set; } = "";
    public string? ServerVersion { get; set; }
    public int ServerVersionNumber { get; set; }
    public string? SystemIdentifier { get; set; }
    public DateTimeOffset StartTime { get; set; }
    public DateTimeOffset EndTime { get; set; }
    public DumpFormat? Format { get; set; }
    public CompressionKind Compression { get; set; }
    /// <summary>The cipher every data file is encrypted with ("aes-256-gcm"), or null when the backup is not encrypted.</summary>
    public string? Encryption { get; set; }
    /// <summary>The public id of the repository key that encrypted it (docs/encryption-format.md); never key material.</summary>
    public string? EncryptionKeyId { get; set; }
    /// <summary>Physical backups: the WAL position the backup starts from (pg_basebackup's "write-ahead log start point"), e.g. "0/2000028".</summary>
    public string? StartLsn { get; set; }
    /// <summary>Physical backups: the WAL position where the backup becomes consistent; recovery must replay WAL at least this far.</summary>
    public string? StopLsn { get; set; }
    /// <summary>Physical backups: the timeline the backup was taken on.</summary>
    public uint? Timeline { get; set; }
    /// <summary>Physical backups: the WAL segment holding <see cref="StartLsn"/> (the oldest WAL a restore of it needs).</summary>
    public string? StartWalSegment { get; set; }
    /// <summary>Physical backups: the WAL segment holding the last byte before <see cref="StopLsn"/>; the backup is reported only once it is archived.</summary>
    public string? StopWalSegment { get; set; }
    /// <summary>Physical backups: the label given to pg_basebackup (-l), as the backup_label file records it.</summary>
    public string? BackupLabel { get; set; }
    /// <summary>Snapshot backups: the backup_label pg_backup_stop returned; a restore writes it into the data directory.</summary>
    public string? BackupLabelFile { get; set; }
    /// <summary>Physical: how the files were read (BaseBackup: pg_basebackup; FileCopy: the data directory between pg_backup_start/stop). Null in older manifests: BaseBackup.</summary>
    public PhysicalBackupMethod? Method { get; set; }
    /// <summary>Snapshot backups: the tablespace_map pg_backup_stop returned (null when the cluster has no tablespaces).</summary>
    public string? TablespaceMapFile { get; set; }
    /// <summary>Physical backups: the tablespaces besides pg_default and pg_global that the backup carries (null or empty: none).</summary>
    public List<PgBackupTablespace>? Tablespaces { get; set; }
    /// <summary>Snapshot backups: the cloud the snapshots live in.</summary>
    public SnapshotProvider? SnapshotProvider { get; set; }
    /// <summary>Snapshot backups: one snapshot per volume of the set, all taken between pg_backup_start and pg_backup_stop.</summary>
    public List<PgVolumeSnapshot>? Snapshots { get; set; }
    /// <summary>Physical backups: the server's configuration files and those outside the data directory the backup carries (null in older manifests).</summary>
    public PgBackupConfiguration? Configuration { get; set; }
    public string? DatabaseEncoding { get; set; }
    public string? DatabaseCollate { get; set; }
    public string? DatabaseCtype { get; set; }
    public List<PgBackupFile> Files { get; set; } = [];
    public SortedDictionary<string, long> TableRowCounts { get; set; } = new(StringComparer.Ordinal);
    public string? ClientVersion { get; set; }
    public string ToolVersion { get; set; } = "";
    public SortedDictionary<string, string> Labels { get; set; } = new(StringComparer.Ordinal);

    [JsonIgnore] public TimeSpan Duration => EndTime - StartTime;
    /// <summary>Bytes of the backup as PostgreSQL produced them (before compression).</summary>
    [JsonIgnore] public long SizeBytes => Files.Sum(f => f.Bytes);
    /// <summary>Bytes the repository holds for it.</summary>
    [JsonIgnore] public long StoredBytes => Files.Sum(f => f.StoredBytes);
    /// <summary>The repository the backup was read from or written to.</summary>
    [JsonIgnore] public string Repository { get; set; } = "";

    public override string ToString() => $"{Id} ({Type} {Database ?? Stanza})";
}

/// <summary>One stored file of a backup, with sizes and SHA-256 before compression and as stored (after compression and encryption).</summary>
public sealed class PgBackupFile
{
    /// <summary>Path relative to the backup's folder, '/'-separated.</summary>
    public string Name { get; set; } = "";
    public long Bytes { get; set; }
    public string? Sha256 { get; set; }
    public long StoredBytes { get; set; }
    public string StoredSha256 { get; set; } = "";
    /// <summary>The transform this tool applied when storing (pg_dump's own compression inside a custom archive is not one).</summary>
    public CompressionKind Encoding { get; set; }
    /// <summary>True if the stored bytes are the compressed content encrypted (format 1, name ends in ".enc"); StoredSha256 is of the encrypted bytes.</summary>
    public bool Encrypted { get; set; }

    public override string ToString() => Name;
}
