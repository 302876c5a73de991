namespace PgBackupTools;

/// <summary>What a physical restore does when it reaches its recovery target (recovery_target_action).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<RecoveryTargetAction>))]
public enum RecoveryTargetAction { Promote, Pause, Shutdown }

/// <summary>
/// Whether a restored server archives WAL: Preserve keeps the backup's archive_command (a restored production server
/// goes on archiving its new timeline into the stanza), Off sets archive_mode = off (a drill or a copy for analysis,
/// which must not write a timeline into production's archive).
/// </summary>
public enum RestoreArchiveMode { Preserve, Off }

/// <summary>What a restore did.</summary>
public sealed class PgRestoreResult
{
    public string BackupId { get; set; } = "";
    public BackupType Type { get; set; }
    public string? SourceDatabase { get; set; }
    public string? TargetDatabase { get; set; }
    public string Server { get; set; } = "";
    public DateTimeOffset StartTime { get; set; }
    public TimeSpan Duration { get; set; }
    public long RestoredBytes { get; set; }
    /// <summary>True when an existing database was replaced (-Force).</summary>
    public bool Replaced { get; set; }
    /// <summary>Physical restores: the data directory restored into.</summary>
    public string? DataDirectory { get; set; }
    /// <summary>Physical restores with -Force: where the previous content of the directory was moved (never deleted).</summary>
    public string? MovedAsideTo { get; set; }
    /// <summary>Physical restores: the backup's tablespaces as restored, each <see cref="PgBackupTablespace.Location"/> the directory it was restored into (its link in pg_tblspc points there).</summary>
    public List<PgBackupTablespace>? Tablespaces { get; set; }
    /// <summary>
    /// Physical restores: the configuration files written into the data directory from the backup's copy of the
    /// server's configuration outside it (Debian and Ubuntu: /etc/postgresql/&lt;version&gt;/&lt;cluster&gt;); null when there was none.
    /// </summary>
    public List<string>? ConfigurationFiles { get; set; }
    /// <summary>Physical restores: the recovery target ("latest", "time …", "lsn …", "name …", "xid …", "immediate").</summary>
    public string? Target { get; set; }
    /// <summary>Physical restores: the last archived WAL segment recovery needs for the target (for latest: the newest on the recovery path when the restore began), checked to be continuous from the backup's start before anything was written.</summary>
    public string? WalThrough { get; set; }
    /// <summary>With -Start: "promoted", "paused" or "shut down at target".</summary>
    public string? RecoveryState { get; set; }
    /// <summary>With -Start: the last WAL position replayed (pg_last_wal_replay_lsn).</summary>
    public string? ReachedLsn { get; set; }
    /// <summary>With -Start: the commit time of the last transaction replayed (pg_last_xact_replay_timestamp).</summary>
    public DateTimeOffset? ReachedTime { get; set; }
    /// <summary>With -Start, after promotion: the server's current WAL position.</summary>
    public string? CurrentLsn { get; set; }
    /// <summary>With -Start, after promotion: the new timeline.</summary>
    public uint? Timeline { get; set; }
    /// <summary>With -Start: the port the restored server listens on.</summary>
    public int? Port { get; set; }

    public override string ToString() => $"{BackupId} -> {TargetDatabase ?? DataDirectory}";
}
