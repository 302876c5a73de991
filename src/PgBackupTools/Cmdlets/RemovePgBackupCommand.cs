using System.Management.Automation;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Removes backups: the ones piped in, or those a retention policy (-RetentionDays, -KeepLast) does not keep.
/// The newest backup of a database or stanza is never removed unless it is named and -Force is given.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "PgBackup", DefaultParameterSetName = BackupSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgBackup), typeof(PgWalRemoval))]
public sealed class RemovePgBackupCommand : PgRepositoryCmdlet
{
    private const string BackupSet = "Backup";
    private const string PolicySet = "Policy";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = BackupSet)]
    [ValidateNotNull]
    public PgBackup[] Backup { get; set; } = [];

    [RepositoryTransformation]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PolicySet)]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter(ParameterSetName = PolicySet)]
    [ValidateRange(0, 36500)]
    public int? RetentionDays { get; set; }

    [Parameter(ParameterSetName = PolicySet)]
    [ValidateRange(1, 100000)]
    public int? KeepLast { get; set; }

    [Parameter(ParameterSetName = PolicySet)]
    [ArgumentCompleter(typeof(StanzaCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Stanza { get; set; }

    [Parameter(ParameterSetName = PolicySet)]
    [ArgumentCompleter(typeof(BackupDatabaseCompleter))]
    [SupportsWildcards]
    public string[]? Database { get; set; }

    /// <summary>How old the remains of an unfinished or half-removed backup must be before they are cleaned up.</summary>
    [Parameter(ParameterSetName = PolicySet)]
    public TimeSpan GracePeriod { get; set; } = BackupRemover.DefaultGracePeriod;

    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PolicySet) RemoveByPolicy();
        else foreach (var backup in Backup) RemoveNamed(backup);
    }

    private void RemoveNamed(PgBackup backup)
    {
        BackupRepository? repository = null;
        PgBackup? recorded = null;
        bool newest = false;
        RunForItem(backup, async context =>
        {
            repository = await OpenRepositoryAsync(backup.Repository, create: false, context, keyRequired: false);
            var group = (await repository.ListBackupsAsync(backup.Stanza, context)).Where(b => RetentionPlanner.GroupOf(b) == RetentionPlanner.GroupOf(backup)).ToList();
            // The catalog's own record, not the piped copy: a Snapshot backup's snapshots are deleted as its manifest names them.
            recorded = group.FirstOrDefault(b => b.Id == backup.Id)
                ?? throw new Core.Errors.PgBackupException(Core.Errors.FailureKind.NotFound, $"Backup {backup.Id} is not in {repository.Location} (already removed?).", backup.Id);
            newest = group.MaxBy(b => (b.StartTime, b.Id))!.Id == backup.Id;
        });
        if (recorded is null) return;
        if (newest && !Force)
        {
            WriteError(new ErrorRecord(new InvalidOperationException(
                $"Backup {backup.Id} is the newest backup of {Describe(backup)} and is kept. Name it with -Force to remove it anyway."),
                "NewestBackupKept", ErrorCategory.InvalidOperation, backup));
            return;
        }
        RemoveBackup(repository!, recorded, newest ? "the newest backup of its group, named with -Force" : "named", Force, PassThru);
    }

    private void RemoveByPolicy()
    {
        var policy = new RetentionPolicy { RetentionDays = RetentionDays, KeepLast = KeepLast };
        BackupRepository? repository = null;
        IReadOnlyList<RetentionDecision> decisions = [];
        IReadOnlyList<(string Stanza, string Id, DateTimeOffset LastWrite)> leftovers = [];
        RunOrThrow(Repository, async context =>
        {
            policy.Validate();
            repository = await OpenRepositoryAsync(ResolveRepositoryLocation(Repository), create: false, context, keyRequired: false);
            var patterns = Database?.Select(d => new WildcardPattern(d, WildcardOptions.IgnoreCase)).ToList();
            var backups = (await repository.ListBackupsAsync(Stanza, context))
                .Where(b => patterns is null || b.Database is not null && patterns.Any(p => p.IsMatch(b.Database)));
            var now = DateTimeOffset.UtcNow;
            decisions = RetentionPlanner.Plan(backups, policy, now);
            leftovers = await BackupRemover.FindLeftoversAsync(repository, Stanza, GracePeriod, now, context.CancellationToken);
        });
        foreach (var kept in decisions.Where(d => d.Keep)) WriteVerbose($"Keeping {kept.Backup.Id} ({Describe(kept.Backup)}): {kept.Reason}.");
        foreach (var removal in decisions.Where(d => !d.Keep)) RemoveBackup(repository!, removal.Backup, removal.Reason, Force, PassThru);
        foreach (var (stanza, id, lastWrite) in leftovers)
        {
            if (!Confirmed(Force, $"unfinished backup folder backups/{stanza}/{id} (no manifest, last written {lastWrite:u})", "Remove the remains")) continue;
            RunForItem(id, context => BackupRemover.RemoveLeftoverAsync(repository!, stanza, id, context.CancellationToken));
        }
        if (Database is not null)
        {
            WriteVerbose("-Database limits the policy to logical backups: no WAL is pruned.");
            return;
        }
        var removals = decisions.Where(d => !d.Keep).Select(d => d.Backup.Id).ToList();
        var stanzas = Stanza is not null ? [Stanza] : decisions.Select(d => d.Backup.Stanza).Distinct(StringComparer.Ordinal).ToList();
        foreach (var stanza in stanzas) PruneWal(repository!, stanza, removals, Force, PassThru, GracePeriod);
    }
}
