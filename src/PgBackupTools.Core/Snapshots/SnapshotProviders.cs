using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Snapshots;

/// <summary>Makes the provider a <see cref="SnapshotTarget"/> names, with credentials from that cloud's own chain.</summary>
public static class SnapshotProviders
{
    public static ISnapshotProvider Create(SnapshotTarget target) => target.Provider switch
    {
        SnapshotProvider.Aws => new AwsEbsSnapshotProvider(target),
        SnapshotProvider.Gcp => new GcpDiskSnapshotProvider(target),
        SnapshotProvider.Azure => new AzureDiskSnapshotProvider(target),
        _ => throw new PgBackupException(FailureKind.NotInstalled, $"{target.Provider} snapshots are not available in this version; AWS EBS and GCP persistent-disk snapshots are.", target.Provider),
    };
}
