using System.Management.Automation;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>Restores a logical backup into a database with the stock psql / pg_restore, verifying every checksum.</summary>
[Cmdlet(VerbsData.Restore, "PgDatabase", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(PgRestoreResult))]
public sealed class RestorePgDatabaseCommand : PgConnectedCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public PgBackup Backup { get; set; } = null!;

    /// <summary>The database to restore into; the backup's own database name when omitted.</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? TargetDatabase { get; set; }

    [Parameter]
    [ValidateRange(1, 64)]
    public int Jobs { get; set; } = 1;

    /// <summary>Replace an existing database, and do not ask for confirmation.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
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
}
