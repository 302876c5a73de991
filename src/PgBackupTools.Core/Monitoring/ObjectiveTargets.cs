namespace PgBackupTools.Core.Monitoring;

/// <summary>The recovery objectives a status is judged against. Defaults: backups at most 25 h old, RPO 5 min, RTO 1 h.</summary>
public sealed record ObjectiveTargets
{
    public TimeSpan MaxBackupAge { get; init; } = TimeSpan.FromHours(25);
    public TimeSpan Rpo { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan Rto { get; init; } = TimeSpan.FromHours(1);

    public const string BackupAgeName = "Backup age";
    public const string RpoName = "RPO";
    public const string RtoName = "RTO";
}
