namespace PgBackupTools;

/// <summary>
/// The health of one stanza and database in a repository (Get-PgBackupStatus): the last good backup of each kind,
/// the last test restore, the WAL archive, and whether each recovery objective holds. <see cref="Database"/> is
/// null for the cluster itself (physical backups and the WAL archive).
/// </summary>
public sealed class PgBackupStatus
{
    public string Repository { get; set; } = "";
    public string Stanza { get; set; } = "";
    /// <summary>The database of logical backups; null for the whole cluster (physical backups, WAL).</summary>
    public string? Database { get; set; }
    /// <summary>When the status was measured (UTC); every age is relative to it.</summary>
    public DateTimeOffset CheckedAt { get; set; }
    /// <summary>The newest backup of each kind (Logical, Physical, Snapshot) that exists (has a manifest).</summary>
    public List<PgLastBackup> LastBackups { get; set; } = [];
    /// <summary>The newest test that restored (or tried to restore) a backup of this database or stanza.</summary>
    public PgBackupTestResult? LastTestRestore { get; set; }
    /// <summary>False when the repository is encrypted and no passphrase was given, so the test record's HMAC could not be checked.</summary>
    public bool LastTestRestoreAuthenticated { get; set; } = true;
    /// <summary>The stanza's WAL archive; null when the stanza has none.</summary>
    public PgWalStatus? Wal { get; set; }
    public List<PgRecoveryObjective> Objectives { get; set; } = [];

    /// <summary>True when every objective is met.</summary>
    public bool Healthy => Objectives.Count > 0 && Objectives.All(o => o.Status == PgObjectiveStatus.Met);

    /// <summary>The newest backup of any kind.</summary>
    public PgLastBackup? LastBackup => LastBackups.OrderByDescending(b => b.EndTime).FirstOrDefault();

    /// <summary>"main" or "main/app", as the report groups it.</summary>
    public string Scope => Database is null ? Stanza : $"{Stanza}/{Database}";

    public override string ToString() => $"{Scope}: {(Healthy ? "healthy" : "NOT healthy")}";
}
