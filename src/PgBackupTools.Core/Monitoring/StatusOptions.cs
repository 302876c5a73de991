using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Core.Monitoring;

/// <summary>What Get-PgBackupStatus looks at.</summary>
public sealed record StatusOptions
{
    /// <summary>One stanza; null = every stanza in the repository.</summary>
    public string? Stanza { get; init; }
    /// <summary>One database's logical backups; null = every database and the cluster.</summary>
    public string? Database { get; init; }
    /// <summary>The server whose archiver and WAL position to read; null = the repository only.</summary>
    public PgConnectionInfo? Server { get; init; }
    public ObjectiveTargets Targets { get; init; } = new();
}
