using System.Management.Automation;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// The health of a repository's backups, per stanza and database: the last backup of each kind, the last test
/// restore, the WAL archive (and with a server its archiver and lag), and whether each recovery objective holds.
/// With -Report, the recovery-objectives report instead: one row per objective with its evidence.
/// </summary>
[Cmdlet(VerbsCommon.Get, "PgBackupStatus", DefaultParameterSetName = RepositorySet)]
[OutputType(typeof(PgBackupStatus), typeof(PgRecoveryObjective))]
public sealed class GetPgBackupStatusCommand : BackupStatusCmdlet
{
    /// <summary>Write the recovery-objectives report (Objective, Target, Measured, Evidence, Status) instead of status objects.</summary>
    [Parameter]
    public SwitchParameter Report { get; set; }

    protected override void ProcessRecord()
    {
        RunForItem(Repository, async context =>
        {
            foreach (var status in await CollectStatusAsync(context))
            {
                if (!Report) PostObject(status);
                else foreach (var objective in status.Objectives) PostObject(objective);
            }
        });
    }
}
