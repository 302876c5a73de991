using System.Management.Automation;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>Lists the snapshots this module made (those tagged pgbt-backup-id), newest first, optionally of given backups or volumes.</summary>
[Cmdlet(VerbsCommon.Get, "PgVolumeSnapshot")]
[OutputType(typeof(PgVolumeSnapshot))]
public sealed class GetPgVolumeSnapshotCommand : SnapshotProviderCmdlet
{
    /// <summary>Only the snapshots of these snapshot sets / Snapshot backups (pipe PgBackup objects: their Id binds).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateNotNullOrEmpty]
    public string[]? BackupId { get; set; }

    [Parameter]
    [Alias("Disk", "DiskId")]
    [ValidateNotNullOrEmpty]
    public string[]? VolumeId { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? SnapshotId { get; set; }

    /// <summary>GCP zone of the disks.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Zone { get; set; }

    protected override void ProcessRecord()
    {
        RunOrThrow(Provider, async context =>
        {
            var provider = OpenProvider(Target(zone: Zone));
            IEnumerable<PgVolumeSnapshot> found;
            if (BackupId is { Length: 1 })
                found = await provider.ListSnapshotsAsync(new Dictionary<string, string> { [SnapshotTags.BackupId] = BackupId[0] }, context.CancellationToken);
            else
                found = (await provider.ListSnapshotsAsync(SnapshotTags.Ours, context.CancellationToken))
                    .Where(s => BackupId is null || BackupId.Contains(s.BackupId, StringComparer.Ordinal));
            foreach (var s in found
                .Where(s => VolumeId is null || VolumeId.Contains(s.VolumeId, StringComparer.Ordinal))
                .Where(s => SnapshotId is null || SnapshotId.Contains(s.SnapshotId, StringComparer.Ordinal))
                .OrderByDescending(s => s.StartTime).ThenBy(s => s.VolumeId, StringComparer.Ordinal))
                PostObject(s);
        });
    }
}
