namespace PgBackupTools.Core.Restore;

public sealed record LogicalRestoreOptions
{
    public required string TargetDatabase { get; init; }
    /// <summary>Replace an existing database of that name (only after the restore succeeded).</summary>
    public bool Replace { get; init; }
    /// <summary>Parallel pg_restore jobs (custom and directory archives).</summary>
    public int Jobs { get; init; } = 1;
}
