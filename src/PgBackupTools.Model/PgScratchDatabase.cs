namespace PgBackupTools;

/// <summary>What became of a scratch database (pgbt_restore_*, pgbt_test_*) a restore or a test restore left on a server, or of a database a -Force restore renamed away (pgbt_replaced_*).</summary>
public enum ScratchDatabaseState
{
    /// <summary>The process that made it still runs: a restore or test in progress. Kept.</summary>
    InUse,
    /// <summary>Made on another host, and younger than the age after which that host's restore counts as gone. Kept.</summary>
    Recent,
    /// <summary>Abandoned, but a session is connected to it. Kept: it is never dropped from under a session.</summary>
    Connected,
    /// <summary>Its process is gone and nobody is connected: safe to drop.</summary>
    Abandoned,
    /// <summary>
    /// A -Force restore was killed while putting it in place: the database it replaced was renamed away and the target
    /// name is free, so it may be the only copy under a usable name; or it is that renamed-away database (pgbt_replaced_*),
    /// holding what the target held. Kept for a person to decide; the reason says what to do.
    /// </summary>
    Interrupted,
    /// <summary>Named like a scratch database but without this module's marker: not ours to drop. Kept.</summary>
    Unmarked,
}

/// <summary>A scratch database found on a server, and what was done with it.</summary>
public sealed class PgScratchDatabase
{
    public string Name { get; set; } = "";
    public string Server { get; set; } = "";
    /// <summary>"restore" (Restore-PgDatabase's staging database) or "test" (Test-PgBackup -Restore's scratch database).</summary>
    public string? Purpose { get; set; }
    public ScratchDatabaseState State { get; set; }
    /// <summary>True when this run dropped it.</summary>
    public bool Dropped { get; set; }
    /// <summary>Why it was dropped or kept, and for an interrupted placement what to do.</summary>
    public string Reason { get; set; } = "";
    /// <summary>The host and process that made it, and when that process started.</summary>
    public string? HostName { get; set; }
    public int? ProcessId { get; set; }
    public DateTimeOffset? ProcessStartTime { get; set; }
    public DateTimeOffset? Created { get; set; }
    public long? SizeBytes { get; set; }
    public int Connections { get; set; }
    /// <summary>The database the restore was putting it in place as.</summary>
    public string? TargetDatabase { get; set; }
    /// <summary>-Force restores: the name the replaced database was given while the new one is put in place.</summary>
    public string? ReplacedDatabase { get; set; }

    public override string ToString() => Name;
}
