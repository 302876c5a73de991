namespace PgBackupTools.Core.Restore;

public sealed record LogicalRestoreOptions
{
    public required string TargetDatabase { get; init; }
    /// <summary>Replace an existing database of that name (only after the restore succeeded).</summary>
    public bool Replace { get; init; }
    /// <summary>Parallel pg_restore jobs (custom and directory archives).</summary>
    public int Jobs { get; init; } = 1;
    /// <summary>
    /// Test-PgBackup: the target is itself a scratch database (pgbt_test_*) and keeps a marker with this purpose once in
    /// place, so that a killed test leaves nothing a later run cannot clean up. Null for a user's restore.
    /// </summary>
    public string? ScratchPurpose { get; init; }
}
