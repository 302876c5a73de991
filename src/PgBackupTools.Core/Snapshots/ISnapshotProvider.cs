namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// One cloud's block-storage snapshots, in the few operations a consistent snapshot backup and its restore need.
/// Implementations translate the provider's failures into <see cref="Errors.PgBackupException"/> naming the volume or
/// snapshot, never a credential.
/// </summary>
public interface ISnapshotProvider : IDisposable
{
    SnapshotProvider Kind { get; }

    /// <summary>Where the snapshots live, for messages (a region, a project, a subscription).</summary>
    string Location { get; }

    /// <summary>
    /// Starts a snapshot of <paramref name="volumeId"/> with <paramref name="tags"/>. <paramref name="requestToken"/>
    /// makes the call idempotent: a retry with the same token returns the snapshot the first call made instead of a
    /// second one (the provider's client token / requestId, or a token tag looked up first where the API has none).
    /// </summary>
    Task<PgVolumeSnapshot> CreateSnapshotAsync(string volumeId, IReadOnlyDictionary<string, string> tags, string requestToken, CancellationToken cancellationToken);

    /// <summary>
    /// Waits until the snapshot's point in time is fixed, i.e. later writes to the volume no longer reach it, so
    /// pg_backup_stop may run. EBS fixes it when CreateSnapshot returns; GCP once the snapshot leaves CREATING.
    /// </summary>
    Task<PgVolumeSnapshot> WaitForPointInTimeAsync(PgVolumeSnapshot snapshot, CancellationToken cancellationToken);

    Task<PgVolumeSnapshot> GetSnapshotAsync(string snapshotId, CancellationToken cancellationToken);

    /// <summary>The snapshots carrying every tag of <paramref name="tags"/> (an empty value matches any value of that key).</summary>
    Task<IReadOnlyList<PgVolumeSnapshot>> ListSnapshotsAsync(IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken);

    /// <summary>Deletes a snapshot; one that no longer exists is success.</summary>
    Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken);

    /// <summary>Creates a volume (disk) from <paramref name="snapshot"/> in <paramref name="zone"/>, idempotently per <paramref name="requestToken"/>, and waits until it is available.</summary>
    Task<PgVolume> CreateVolumeAsync(PgVolumeSnapshot snapshot, string zone, IReadOnlyDictionary<string, string> tags, string requestToken, CancellationToken cancellationToken);
}
