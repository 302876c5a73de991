namespace PgBackupTools;

public enum PgCheckStatus { OK, Warning, Failed }

/// <summary>One check of Test-PgBackupConfiguration: what was checked, what was found, and what to do about it.</summary>
public sealed class PgConfigurationCheck
{
    public string Name { get; set; } = "";
    public PgCheckStatus Status { get; set; }
    public string Detail { get; set; } = "";
    /// <summary>What to do when the check did not pass; empty when it did.</summary>
    public string Fix { get; set; } = "";
    public string? Server { get; set; }
    public string Repository { get; set; } = "";
    public string Stanza { get; set; } = "";

    public override string ToString() => $"{Status.ToString().ToUpperInvariant()} {Name}";
}
