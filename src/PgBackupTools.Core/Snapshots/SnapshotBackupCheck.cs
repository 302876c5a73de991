using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// What Test-PgBackup proves about a Snapshot backup without restoring it: every snapshot its manifest names still
/// exists at its provider, is complete, and is of the volume the manifest says (a Snapshot backup stores no files, so
/// there is no checksum to verify).
/// </summary>
public static class SnapshotBackupCheck
{
    public static async Task<List<PgBackupCheck>> RunAsync(PgBackup backup, CancellationToken cancellationToken)
    {
        var checks = new List<PgBackupCheck>();
        if (backup.Snapshots is not { Count: > 0 })
        {
            checks.Add(new PgBackupCheck { Kind = "Snapshot", Name = "(none)", Expected = "at least one snapshot", Actual = "none in the manifest", Passed = false });
            return checks;
        }
        using var providers = new SnapshotProviderPool();
        foreach (var s in backup.Snapshots)
        {
            string actual;
            try
            {
                var now = await providers.For(s).GetSnapshotAsync(s.SnapshotId, cancellationToken).ConfigureAwait(false);
                actual = now.Completed && now.VolumeId == s.VolumeId ? $"completed, of {now.VolumeId}" : $"{now.State}, of {now.VolumeId}";
            }
            catch (PgBackupException e) when (e.Kind == FailureKind.NotFound)
            {
                actual = "missing";
            }
            string expected = $"completed, of {s.VolumeId}";
            checks.Add(new PgBackupCheck { Kind = "Snapshot", Name = s.SnapshotId, Expected = expected, Actual = actual, Passed = actual == expected });
        }
        return checks;
    }
}
