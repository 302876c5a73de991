namespace PgBackupTools;

public enum PgObjectiveStatus { Met, Missed, Unknown }

/// <summary>
/// One recovery objective and the evidence for it, measured from the repository and the server: a row of the
/// recovery-objectives report (Objective | Target | Measured | Evidence | Status). Nothing here is typed by hand.
/// </summary>
public sealed class PgRecoveryObjective
{
    public string Stanza { get; set; } = "";
    public string? Database { get; set; }
    /// <summary>"Backup age", "RPO" or "RTO".</summary>
    public string Objective { get; set; } = "";
    public TimeSpan Target { get; set; }
    /// <summary>What was measured; null when there is no evidence.</summary>
    public TimeSpan? Measured { get; set; }
    /// <summary>Where the measurement comes from (the backup, segment or test restore), or why there is none.</summary>
    public string Evidence { get; set; } = "";
    public PgObjectiveStatus Status { get; set; }

    public string Scope => Database is null ? Stanza : $"{Stanza}/{Database}";

    public override string ToString() => $"{Scope} {Objective}: {Status}";
}
