using System.Management.Automation;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Deletes snapshots: the ones piped in, or whole sets older than -RetentionDays (never the newest complete set).
/// With -Repository, a set's Snapshot backup leaves the catalog once all its snapshots are deleted; if one cannot be
/// deleted the entry stays, so no snapshot is left that nothing names (Remove-PgBackup shares this path).
/// </summary>
[Cmdlet(VerbsCommon.Remove, "PgVolumeSnapshot", DefaultParameterSetName = SnapshotSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgVolumeSnapshot))]
public sealed class RemovePgVolumeSnapshotCommand : SnapshotProviderCmdlet
{
    private const string SnapshotSet = "Snapshot";
    private const string PolicySet = "Policy";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = SnapshotSet)]
    [ValidateNotNull]
    public PgVolumeSnapshot[] InputObject { get; set; } = [];

    /// <summary>Remove the sets that started more than this many days ago; the newest complete set always stays.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PolicySet)]
    [ValidateRange(0, 36500)]
    public int RetentionDays { get; set; }

    /// <summary>GCP zone of the disks.</summary>
    [Parameter(ParameterSetName = PolicySet)]
    [ValidateNotNullOrEmpty]
    public string? Zone { get; set; }

    /// <summary>The repository whose catalog records the sets as Snapshot backups: their manifests are removed once all their snapshots are deleted.</summary>
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [RepositoryTransformation]
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PolicySet)
        {
            RemoveByPolicy();
            return;
        }
        foreach (var group in InputObject.GroupBy(s => s.BackupId ?? ""))
            RemoveSet(group.Key.Length == 0 ? null : group.Key, group.ToList(), "named");
    }

    private void RemoveByPolicy()
    {
        IReadOnlyList<SnapshotSetDecision> plan = [];
        RunOrThrow(Provider, async context =>
        {
            var provider = OpenProvider(Target(zone: Zone));
            plan = SnapshotRetention.Plan(await provider.ListSnapshotsAsync(SnapshotTags.Ours, context.CancellationToken), RetentionDays, DateTimeOffset.UtcNow);
        });
        foreach (var kept in plan.Where(d => d.Keep)) WriteVerbose($"Keeping snapshot set {kept.BackupId} ({kept.Snapshots.Count} snapshot(s)): {kept.Reason}.");
        foreach (var removal in plan.Where(d => !d.Keep)) RemoveSet(removal.BackupId, removal.Snapshots.ToList(), removal.Reason);
    }

    private void RemoveSet(string? backupId, List<PgVolumeSnapshot> snapshots, string reason)
    {
        string what = backupId is null ? string.Join(", ", snapshots.Select(s => s.SnapshotId)) : $"snapshot set {backupId} ({string.Join(", ", snapshots.Select(s => $"{s.SnapshotId} of {s.VolumeId}"))})";
        if (!Confirmed(Force, what, $"Delete {snapshots.Count} snapshot(s) ({reason})")) return;
        RunForItem(backupId ?? (object)snapshots[0], async context =>
        {
            BackupRepository? repository = null;
            PgBackup? backup = null;
            if (Repository is not null && backupId is not null)
            {
                repository = await OpenRepositoryAsync(ResolveRepositoryLocation(Repository), create: false, context, keyRequired: false);
                string stanza = SnapshotTags.StanzaOf(snapshots) ?? "main";
                try
                {
                    backup = await repository.GetBackupAsync(stanza, backupId, context.CancellationToken);
                }
                catch (PgBackupException e) when (e.Kind == FailureKind.NotFound)
                {
                    context.Log($"No Snapshot backup {backupId} in {repository.Location}: only the snapshots are deleted.");
                }
            }
            context.Log($"Deleting {snapshots.Count} snapshot(s) ({reason}).");
            await SnapshotBackupRemover.RemoveAsync(snapshots, s => OpenProvider(Target(s)), repository, backup, PassThru ? PostObject : null, context);
        });
    }
}
