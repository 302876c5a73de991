using System.Management.Automation;
using System.Security;
using PgBackupTools.Core;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// The passphrase parameters every cmdlet that reads or writes encrypted data shares, and the repositories it opened
/// (unlocked once per invocation, however many objects come down the pipeline; keys zeroed when it ends).
/// At most one of -Passphrase, -PassphraseVariable, -PassphraseFile; with none, the environment variable
/// PGBACKUPTOOLS_PASSPHRASE is used if set. The passphrase itself never leaves this process and never appears in
/// arguments, objects or messages.
/// </summary>
public abstract class PgRepositoryCmdlet : PgCmdlet, IDisposable
{
    /// <summary>The repository passphrase, e.g. from Read-Host -AsSecureString.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? Passphrase { get; set; }

    /// <summary>The name of an environment variable that holds the passphrase (its value never goes on a command line).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PassphraseVariable { get; set; }

    /// <summary>A file that holds the passphrase (one trailing newline ignored); on Unix it must be readable only by its owner.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? PassphraseFile { get; set; }

    private readonly Dictionary<string, BackupRepository> _repositories = new(StringComparer.Ordinal);
    private readonly SnapshotProviderPool _snapshotProviders = new();

    /// <summary>One snapshot provider (SDK client) per target for the whole invocation; credentials from each SDK's own chain.</summary>
    protected ISnapshotProvider OpenProvider(SnapshotTarget target) => _snapshotProviders.Get(target);

    /// <summary>True if one of the passphrase parameters was given.</summary>
    protected bool PassphraseGiven => Passphrase is not null || PassphraseVariable is not null || PassphraseFile is not null;

    /// <summary>The passphrase the parameters name, or null if none was given (the core then tries PGBACKUPTOOLS_PASSPHRASE).</summary>
    protected PassphraseSource? GetPassphraseSource()
    {
        int given = (Passphrase is null ? 0 : 1) + (PassphraseVariable is null ? 0 : 1) + (PassphraseFile is null ? 0 : 1);
        if (given > 1)
            throw new PgBackupException(FailureKind.InvalidArgument, "Give only one of -Passphrase, -PassphraseVariable and -PassphraseFile.");
        if (Passphrase is not null) return PassphraseSource.FromSecureString(Passphrase);
        if (PassphraseVariable is not null) return PassphraseSource.FromEnvironmentVariable(PassphraseVariable);
        if (PassphraseFile is not null) return PassphraseSource.FromKeyFile(GetUnresolvedProviderPathFromPSPath(PassphraseFile));
        return null;
    }

    /// <summary>The passphrase the parameters name, else PGBACKUPTOOLS_PASSPHRASE; a clear error if there is none.</summary>
    protected PassphraseSource RequirePassphraseSource() =>
        GetPassphraseSource()
        ?? (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(RepositoryPassphrase.DefaultVariable))
            ? throw new PgBackupException(FailureKind.InvalidArgument, $"No passphrase given. {RepositoryPassphrase.HowToGiveOne}")
            : PassphraseSource.FromEnvironmentVariable(RepositoryPassphrase.DefaultVariable));

    /// <summary>
    /// A -Repository value as the core takes it: an s3:// or az:// URL as it is, a path resolved against the current
    /// location. Any other URL (http://, ftp://) gets the parser's 'not a supported repository location' error, not the
    /// provider's 'Cannot find drive'.
    /// </summary>
    protected string ResolveRepositoryLocation(string repository) =>
        repository.Contains("://", StringComparison.Ordinal) ? Core.Storage.RepositoryLocation.Parse(repository).ToString() : GetUnresolvedProviderPathFromPSPath(repository);

    /// <summary>Opens (and for an encrypted repository unlocks) <paramref name="location"/>, once per invocation of this cmdlet.</summary>
    protected async Task<BackupRepository> OpenRepositoryAsync(string location, bool create, OperationContext context, bool keyRequired = true)
    {
        if (_repositories.TryGetValue(location, out var open)) return open;
        var repository = await BackupRepository.OpenAsync(location, create, context.CancellationToken, GetPassphraseSource(), keyRequired, context);
        _repositories[location] = repository;
        return repository;
    }

    /// <summary>
    /// Removes one backup after ShouldProcess (or -Force), manifest first; writes it with -PassThru. A Snapshot backup's
    /// snapshots are deleted first, through the provider, region and endpoint its manifest records (the ShouldProcess
    /// target names them); if one cannot be deleted the catalog entry stays and the error says what to do.
    /// </summary>
    protected void RemoveBackup(BackupRepository repository, PgBackup backup, string reason, bool force, bool passThru)
    {
        var snapshots = backup.Type == BackupType.Snapshot ? backup.Snapshots ?? [] : [];
        string target = $"{backup.Id} ({Describe(backup)}, started {backup.StartTime.UtcDateTime:u})";
        if (snapshots.Count > 0)
            target += $" and its {snapshots.Count} snapshot(s) at {string.Join(", ", snapshots.Select(s => s.Location ?? s.Provider.ToString()).Distinct())}: "
                + string.Join(", ", snapshots.Select(s => $"{s.SnapshotId} of {s.VolumeId}"));
        if (!Confirmed(force, target, $"Remove backup ({reason})")) return;
        RunForItem(backup, async context =>
        {
            if (snapshots.Count > 0) await SnapshotBackupRemover.RemoveAsync(snapshots, _snapshotProviders.For, repository, backup, deleted: null, context);
            else await BackupRemover.RemoveAsync(repository, backup, context.CancellationToken);
            context.Log($"Removed backup {backup.Id} from {repository.Location} ({reason}).");
            if (passThru) PostObject(backup);
        });
    }

    /// <summary>
    /// Prunes the WAL archive of <paramref name="stanza"/> after a retention policy ran: everything older than the start
    /// of the oldest physical backup that is still there. Under -WhatIf the backups the policy would have removed
    /// (<paramref name="policyRemovals"/>) count as gone, so it names exactly what a real run deletes. One ShouldProcess
    /// per range; once a range of a timeline is declined or fails, the later ranges of that timeline stay too (no holes).
    /// </summary>
    protected void PruneWal(BackupRepository repository, string stanza, IReadOnlyCollection<string> policyRemovals, bool force, bool passThru, TimeSpan? gracePeriod = null)
    {
        WalPrunePlan? plan = null;
        IReadOnlySet<string> assumeRemoved = WhatIfRequested ? policyRemovals.ToHashSet(StringComparer.Ordinal) : new HashSet<string>();
        RunForItem(stanza, async context => plan = await WalPruner.PlanAsync(repository, stanza, assumeRemoved, context.CancellationToken, gracePeriod));
        if (plan is null) return;
        foreach (var warning in plan.Warnings) WriteWarning(warning);
        WriteVerbose(plan.Explanation);
        var stopped = new HashSet<uint>();
        foreach (var range in plan.Ranges)
        {
            string description = plan.Describe(range);
            if (stopped.Contains(range.Timeline))
            {
                WriteVerbose($"Keeping WAL {range.First}..{range.Last}: an older range of timeline {range.Timeline} stays, and WAL is only ever removed oldest first.");
                continue;
            }
            if (!ConfirmedOperation(force, description, "Prune WAL"))
            {
                // Under -WhatIf every range is named, as a real run would remove them all; a "no" keeps the rest of the timeline.
                if (!WhatIfRequested) stopped.Add(range.Timeline);
                continue;
            }
            bool done = false;
            RunForItem(description, async context =>
            {
                await WalPruner.RemoveAsync(repository.Store, plan.Stanza, range, context);
                done = true;
                context.Log($"Removed WAL {range.First}..{range.Last} ({range.Files.Count} files, {range.StoredBytes:N0} bytes stored) from stanza {plan.Stanza} of {repository.Location}.");
                if (passThru)
                {
                    PostObject(new PgWalRemoval
                    {
                        Stanza = plan.Stanza, Timeline = range.Timeline, First = range.First, Last = range.Last, Files = range.Files.Count, Segments = range.Segments,
                        StoredBytes = range.StoredBytes, KeptFrom = plan.KeepFrom!, KeptFor = plan.KeptFor!, Repository = repository.Location,
                    });
                }
            });
            if (!done) stopped.Add(range.Timeline);
        }
    }

    protected static string Describe(PgBackup backup) =>
        backup.Type == BackupType.Logical ? $"database '{backup.Database}' in stanza '{backup.Stanza}'" : $"{backup.Type.ToString().ToLowerInvariant()} backups of stanza '{backup.Stanza}'";

    /// <summary>PowerShell calls this when the pipeline ends, also when it was stopped (where EndProcessing is skipped).</summary>
    public void Dispose()
    {
        DisposeKeys();
        _snapshotProviders.Dispose();
        foreach (var repository in _repositories.Values) repository.Dispose();
        _repositories.Clear();
        GC.SuppressFinalize(this);
    }

    /// <summary>Zeroes keys a derived cmdlet holds itself.</summary>
    protected virtual void DisposeKeys() { }
}
