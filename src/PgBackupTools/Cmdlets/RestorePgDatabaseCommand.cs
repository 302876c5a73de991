using System.Management.Automation;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Wal;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>Restores a logical backup into a database with the stock psql / pg_restore, verifying every checksum.</summary>
[Cmdlet(VerbsData.Restore, "PgDatabase", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = LogicalSet)]
[OutputType(typeof(PgRestoreResult))]
public sealed class RestorePgDatabaseCommand : PgConnectedCmdlet
{
    private const string LogicalSet = "Logical";
    private const string PhysicalSet = "Physical";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = LogicalSet)]
    [Parameter(ValueFromPipeline = true, ParameterSetName = PhysicalSet)]
    [ValidateNotNull]
    public PgBackup Backup { get; set; } = null!;

    /// <summary>Physical, without -Backup: the repository to pick the newest physical backup from that ends before the target.</summary>
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [RepositoryTransformation]
    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [ArgumentCompleter(typeof(StanzaCompleter))]
    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = "main";

    /// <summary>The database to restore into; the backup's own database name when omitted.</summary>
    [Parameter(Position = 1, ParameterSetName = LogicalSet)]
    [ValidateNotNullOrEmpty]
    public string? TargetDatabase { get; set; }

    [Parameter(ParameterSetName = LogicalSet)]
    [ValidateRange(1, 64)]
    public int Jobs { get; set; } = 1;

    /// <summary>Physical backups: the data directory to restore into (new or empty; with -Force an existing one is moved aside). Snapshot backups: the data directory on the mounted volume restored from the snapshots.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PhysicalSet)]
    [ValidateNotNullOrEmpty]
    public string DataDirectory { get; set; } = "";

    /// <summary>Physical: tablespaces restored elsewhere, @{ '&lt;original location&gt;' = '&lt;new directory&gt;' } (pg_basebackup -T OLDDIR=NEWDIR); the others go back to their original location.</summary>
    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidateNotNull]
    public System.Collections.Hashtable? TablespaceMapping { get; set; }

    [Parameter(ParameterSetName = PhysicalSet)]
    public DateTimeOffset? TargetTime { get; set; }

    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidatePattern("^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")]
    public string? TargetLsn { get; set; }

    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidatePattern("^[0-9]+$")]
    public string? TargetXid { get; set; }

    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidateNotNullOrEmpty]
    public string? TargetName { get; set; }

    [Parameter(ParameterSetName = PhysicalSet)]
    public SwitchParameter Immediate { get; set; }

    [Parameter(ParameterSetName = PhysicalSet)]
    public RecoveryTargetAction TargetAction { get; set; } = RecoveryTargetAction.Promote;

    /// <summary>Preserve (default) keeps archiving into the stanza after promotion; Off for drills and copies.</summary>
    [Parameter(ParameterSetName = PhysicalSet)]
    public RestoreArchiveMode ArchiveMode { get; set; } = RestoreArchiveMode.Preserve;

    /// <summary>Start the restored server with pg_ctl and wait until recovery ends.</summary>
    [Parameter(ParameterSetName = PhysicalSet)]
    public SwitchParameter Start { get; set; }

    /// <summary>The OS user that owns the restored directory and runs the server (when running as root; default postgres).</summary>
    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidateNotNullOrEmpty]
    public string? Owner { get; set; }

    /// <summary>The pgbt-wal executable restore_command runs (default: the module's bin/pgbt-wal).</summary>
    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidateNotNullOrEmpty]
    public string? EntryPointPath { get; set; }

    /// <summary>Replace an existing database, and do not ask for confirmation.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PhysicalSet)
        {
            RestorePhysical();
            return;
        }
        string target = TargetDatabase ?? Backup.Database
            ?? throw new PSArgumentException("The backup names no database: give -TargetDatabase.");
        var connection = BackupServer.Resolve(Backup, ResolveConnection(), ConnectionGiven);
        bool whatIf = MyInvocation.BoundParameters.ContainsKey("WhatIf");
        if ((whatIf || !Force) && !ShouldProcess($"database '{target}' on {connection.Server}", $"Restore backup {Backup.Id} of '{Backup.Database}'"))
            return;
        RunForItem(Backup, async context =>
        {
            var repository = await OpenRepositoryAsync(Backup.Repository, create: false, context);
            var result = await LogicalRestoreJob.RunAsync(repository, Backup, connection,
                new LogicalRestoreOptions { TargetDatabase = target, Replace = Force, Jobs = Jobs }, context);
            PostObject(result);
        });
    }

    private void RestorePhysical()
    {
        string dataDirectory = GetUnresolvedProviderPathFromPSPath(DataDirectory);
        string entryPoint = EntryPointPath is null
            ? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(typeof(RestorePgDatabaseCommand).Assembly.Location)!, "bin", WalCommands.EntryPointFileName)
            : GetUnresolvedProviderPathFromPSPath(EntryPointPath);
        if (Backup is null && Repository is null)
            throw new PSArgumentException("Give the physical backup to restore (-Backup, or through the pipeline from Get-PgBackup), or -Repository to restore the newest one that ends before the target.");
        var tablespaceMapping = ResolveTablespaceMapping();
        bool whatIf = MyInvocation.BoundParameters.ContainsKey("WhatIf");
        string what = Backup is null ? $"Restore the newest physical backup of stanza '{Stanza}' in {Repository} before the target" : $"Restore physical backup {Backup.Id}";
        string where = tablespaceMapping is null ? $"data directory {dataDirectory}" : $"data directory {dataDirectory} and tablespace directories {string.Join(", ", tablespaceMapping.Values)}";
        if ((whatIf || !Force) && !ShouldProcess(where, what))
            return;
        RunForItem((object?)Backup ?? Repository, async context =>
        {
            var repository = await OpenRepositoryAsync(Backup?.Repository ?? ResolveRepositoryLocation(Repository!), create: false, context);
            if (repository.IsEncrypted && PassphraseFile is null)
                throw new PSArgumentException("The repository is encrypted: give -PassphraseFile, a key file the server's OS user can read, so that restore_command (pgbt-wal get) can decrypt the archived WAL.");
            var options = new PhysicalRestoreOptions
            {
                DataDirectory = dataDirectory,
                TablespaceMapping = tablespaceMapping,
                Force = Force,
                TargetTime = TargetTime,
                TargetLsn = TargetLsn,
                TargetXid = TargetXid,
                TargetName = TargetName,
                Immediate = Immediate,
                TargetAction = TargetAction,
                ArchiveMode = ArchiveMode,
                WalEntryPoint = entryPoint,
                PassphraseFile = PassphraseFile is null ? null : GetUnresolvedProviderPathFromPSPath(PassphraseFile),
                Port = Port,
                Start = Start,
                Owner = Owner,
            };
            if (Backup?.Type == BackupType.Snapshot)
            {
                if (tablespaceMapping is not null)
                    throw new PSArgumentException("-TablespaceMapping applies to physical backups restored from the repository; a Snapshot backup's tablespaces are on the volumes restored from its snapshots, where its tablespace_map points.");
                // A snapshot backup's data is already in place (the mounted volume): only the label and recovery settings are written.
                PostObject(await Core.Snapshots.SnapshotRestoreJob.RunAsync(repository, Backup, options, context));
                return;
            }
            var backup = Backup ?? PhysicalRestoreJob.ChooseBackup(await repository.ListBackupsAsync(Stanza, context), options, Stanza);
            context.Log($"Restoring physical backup {backup.Id} (WAL {backup.StartLsn}..{backup.StopLsn}, timeline {backup.Timeline}).");
            PostObject(await PhysicalRestoreJob.RunAsync(repository, backup, options, context));
        });
    }

    /// <summary>The keys are the original locations as the backup records them (the source host's paths, taken as they are); the new directories are paths here.</summary>
    private Dictionary<string, string>? ResolveTablespaceMapping()
    {
        if (TablespaceMapping is null) return null;
        var mapping = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry pair in TablespaceMapping)
        {
            string from = pair.Key?.ToString() ?? "", to = (pair.Value is PSObject o ? o.BaseObject : pair.Value)?.ToString() ?? "";
            if (from.Length == 0 || to.Length == 0)
                throw new PSArgumentException("-TablespaceMapping needs @{ '<original location>' = '<new directory>' } pairs with neither side empty (Get-PgBackup shows the original locations under Tablespaces).");
            mapping[from] = GetUnresolvedProviderPathFromPSPath(to);
        }
        return mapping;
    }
}
