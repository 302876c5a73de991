namespace PgBackupTools;

/// <summary>One check of a backup test: a file checksum, a table's row count, a query.</summary>
public sealed class PgBackupCheck
{
    public string Kind { get; set; } = "";
    public string Name { get; set; } = "";
    public string? Expected { get; set; }
    public string? Actual { get; set; }
    public bool Passed { get; set; }

    public override string ToString() => $"{(Passed ? "OK" : "FAILED")} {Kind} {Name}";
}

/// <summary>The verdict on one backup: every check, and how long a restore took (a measured RTO).</summary>
public sealed class PgBackupTestResult
{
    public string BackupId { get; set; } = "";
    public string Stanza { get; set; } = "";
    public string? Database { get; set; }
    public BackupType Type { get; set; }
    public bool Passed { get; set; }
    /// <summary>True when -Restore was asked for (a restore was attempted), whether or not it succeeded.</summary>
    public bool RestoreRequested { get; set; }
    public bool Restored { get; set; }
    public string? ScratchDatabase { get; set; }
    public DateTimeOffset StartTime { get; set; }
    /// <summary>The restore's wall time when -Restore was given, otherwise the checksum pass's.</summary>
    public TimeSpan Duration { get; set; }
    public List<PgBackupCheck> Checks { get; set; } = [];
    public string? Error { get; set; }
    public string Repository { get; set; } = "";

    public int FailedChecks => Checks.Count(c => !c.Passed);

    public override string ToString() => $"{BackupId}: {(Passed ? "Passed" : "FAILED")}";
}
