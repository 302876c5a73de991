namespace PgBackupTools;

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

    public override string ToString() => $"{BackupId} -> {TargetDatabase}";
}
