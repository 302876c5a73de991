namespace PgBackupTools;

/// <summary>The newest backup of one kind, as Get-PgBackupStatus reports it.</summary>
public sealed class PgLastBackup
{
    public BackupType Type { get; set; }
    public string BackupId { get; set; } = "";
    public DateTimeOffset StartTime { get; set; }
    public DateTimeOffset EndTime { get; set; }
    /// <summary>How old the backup is at <see cref="PgBackupStatus.CheckedAt"/> (from its end).</summary>
    public TimeSpan Age { get; set; }
    /// <summary>Bytes as PostgreSQL produced them.</summary>
    public long SizeBytes { get; set; }
    /// <summary>Bytes the repository holds for it.</summary>
    public long StoredBytes { get; set; }
    public TimeSpan Duration { get; set; }

    public override string ToString() => $"{Type} {BackupId}";
}
