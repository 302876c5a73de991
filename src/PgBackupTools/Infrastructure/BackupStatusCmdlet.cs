using System.Management.Automation;
using PgBackupTools.Core;
using PgBackupTools.Core.Monitoring;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// What Get-PgBackupStatus and Export-PgBackupMetric share: the repository, which stanza and database, the objectives'
/// targets, and (optional) a server whose archiver and WAL position to read. A server is asked only when a connection
/// parameter is given, so a status of the repository alone never depends on a server being up. Nothing binds by
/// property name: a PgBackupStatus piped into Export-PgBackupMetric must bind as itself, not re-collect by its Repository.
/// </summary>
public abstract class BackupStatusCmdlet : PgConnectedCmdlet
{
    protected const string RepositorySet = "Repository";

    [RepositoryTransformation]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = RepositorySet)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    /// <summary>One stanza; by default every stanza in the repository.</summary>
    [Parameter(ParameterSetName = RepositorySet)]
    [ValidateNotNullOrEmpty]
    public string? Stanza { get; set; }

    /// <summary>Only this database's logical backups; by default every database and the cluster.</summary>
    [Parameter(ParameterSetName = RepositorySet)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>Recovery point objective: the newest archived WAL may be at most this old.</summary>
    [Parameter(ParameterSetName = RepositorySet)]
    [DurationTransformation]
    public TimeSpan RpoTarget { get; set; } = new ObjectiveTargets().Rpo;

    /// <summary>Recovery time objective: the last test restore may have taken at most this long.</summary>
    [Parameter(ParameterSetName = RepositorySet)]
    [DurationTransformation]
    public TimeSpan RtoTarget { get; set; } = new ObjectiveTargets().Rto;

    /// <summary>The newest backup may be at most this old.</summary>
    [Parameter(ParameterSetName = RepositorySet)]
    [DurationTransformation]
    public TimeSpan MaxBackupAge { get; set; } = new ObjectiveTargets().MaxBackupAge;

    protected async Task<List<PgBackupStatus>> CollectStatusAsync(OperationContext context)
    {
        bool askServer = ServerRequested;
        var options = new StatusOptions
        {
            Stanza = Stanza,
            Database = Database,
            Server = askServer ? ResolveConnection() : null,
            Targets = new ObjectiveTargets { Rpo = RpoTarget, Rto = RtoTarget, MaxBackupAge = MaxBackupAge },
        };
        // Listing needs no key; a passphrase that is given (or PGBACKUPTOOLS_PASSPHRASE) authenticates the test records.
        var repository = await OpenRepositoryAsync(ResolveRepositoryLocation(Repository), create: false, context, keyRequired: false);
        return await BackupStatusCollector.CollectAsync(repository, options, context);
    }
}
