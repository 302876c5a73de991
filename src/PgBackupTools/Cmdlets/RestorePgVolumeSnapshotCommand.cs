using System.Collections;
using System.Management.Automation;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Creates a volume (disk) from every snapshot of a set in one zone and returns them, ready to attach and mount.
/// Then Restore-PgDatabase -Backup (the Snapshot backup) -DataDirectory (the mounted data directory) makes it recover.
/// </summary>
[Cmdlet(VerbsData.Restore, "PgVolumeSnapshot", DefaultParameterSetName = SnapshotSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgVolume))]
public sealed class RestorePgVolumeSnapshotCommand : SnapshotProviderCmdlet
{
    private const string SnapshotSet = "Snapshot";
    private const string BackupSet = "Backup";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = SnapshotSet)]
    [ValidateNotNull]
    public PgVolumeSnapshot[] InputObject { get; set; } = [];

    /// <summary>A Snapshot backup from Get-PgBackup: a volume from each of its snapshots.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = BackupSet)]
    [ValidateNotNull]
    public PgBackup Backup { get; set; } = null!;

    /// <summary>The availability zone (AWS, GCP) to create the volumes in.</summary>
    [Parameter(Mandatory = true)]
    [Alias("AvailabilityZone")]
    [ValidateNotNullOrEmpty]
    public string Zone { get; set; } = "";

    /// <summary>Tags for the new volumes.</summary>
    [Parameter]
    public Hashtable? Tag { get; set; }

    // One token per invocation: the SDK's retries of a CreateVolume reuse it, so a lost response never makes two volumes.
    private readonly string _invocation = Guid.NewGuid().ToString("N")[..16];

    protected override void ProcessRecord()
    {
        List<PgVolumeSnapshot> snapshots;
        if (ParameterSetName == BackupSet)
        {
            if (Backup.Type != BackupType.Snapshot || Backup.Snapshots is not { Count: > 0 })
            {
                WriteError(new ErrorRecord(new PgBackupException(FailureKind.InvalidArgument, $"Backup {Backup.Id} is a {Backup.Type} backup with no snapshots; Restore-PgVolumeSnapshot restores Snapshot backups.", Backup.Id),
                    "NotASnapshotBackup", ErrorCategory.InvalidArgument, Backup));
                return;
            }
            snapshots = Backup.Snapshots;
        }
        else snapshots = InputObject.ToList();
        foreach (var snapshot in snapshots)
        {
            if (!ShouldProcess($"snapshot {snapshot.SnapshotId} of {snapshot.VolumeId}", $"Create a volume in {Zone}")) continue;
            RunForItem(snapshot, async context =>
            {
                var provider = OpenProvider(Target(snapshot, Zone));
                var tags = ToTags(Tag);
                if (snapshot.BackupId is not null) tags[SnapshotTags.BackupId] = snapshot.BackupId;
                tags[SnapshotTags.Name] = $"pgbt restore of {snapshot.SnapshotId}";
                context.Log($"Creating a volume from snapshot {snapshot.SnapshotId} ({snapshot.VolumeId}) in {Zone} ({provider.Location}).");
                var volume = await provider.CreateVolumeAsync(snapshot, Zone, tags, $"pgbt-{_invocation}-{snapshot.SnapshotId}", context.CancellationToken);
                PostObject(volume);
            });
        }
    }
}
