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

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public PgBackup Backup { get; set; } = null!;

    /// <summary>The database to restore into; the backup's own database name when omitted.</summary>
    [Parameter(Position = 1, ParameterSetName = LogicalSet)]
    [ValidateNotNullOrEmpty]
    public string? TargetDatabase { get; set; }

    [Parameter(ParameterSetName = LogicalSet)]
    [ValidateRange(1, 64)]
    public int Jobs { get; set; } = 1;

    /// <summary>Physical backups: the data directory to restore into (new or empty; with -Force an existing one is moved aside).</summary>
    [Parameter(Mandatory = true, ParameterSetName = PhysicalSet)]
    [ValidateNotNullOrEmpty]
    public string DataDirectory { get; set; } = "";

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
        bool whatIf = MyInvocation.BoundParameters.ContainsKey("WhatIf");
        if ((whatIf || !Force) && !ShouldProcess($"data directory {dataDirectory}", $"Restore physical backup {Backup.Id}"))
            return;
        RunForItem(Backup, async context =>
        {
            var repository = await OpenRepositoryAsync(Backup.Repository, create: false, context);
            if (repository.IsEncrypted && PassphraseFile is null)
                throw new PSArgumentException("The repository is encrypted: give -PassphraseFile, a key file the server's OS user can read, so that restore_command (pgbt-wal get) can decrypt the archived WAL.");
            var options = new PhysicalRestoreOptions
            {
                DataDirectory = dataDirectory,
                Force = Force,
                TargetTime = TargetTime,
                TargetLsn = TargetLsn,
                TargetXid = TargetXid,
                TargetName = TargetName,
                Immediate = Immediate,
                TargetAction = TargetAction,
                WalEntryPoint = entryPoint,
                PassphraseFile = PassphraseFile is null ? null : GetUnresolvedProviderPathFromPSPath(PassphraseFile),
                Port = Port,
                Start = Start,
                Owner = Owner,
            };
            PostObject(await PhysicalRestoreJob.RunAsync(repository, Backup, options, context));
        });
    }
}
