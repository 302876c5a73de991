using System.Management.Automation;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Verify;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>Verifies a backup's checksums and, with -Restore, proves it by restoring it into a scratch database.</summary>
[Cmdlet(VerbsDiagnostic.Test, "PgBackup")]
[OutputType(typeof(PgBackupTestResult))]
public sealed class TestPgBackupCommand : PgConnectedCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public PgBackup Backup { get; set; } = null!;

    /// <summary>Restore into a scratch database, compare every table's row count with the backup's, then drop it.</summary>
    [Parameter]
    public SwitchParameter Restore { get; set; }

    /// <summary>Extra SQL checks run in the restored database; each passes when its first value is true, non-zero and not NULL.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Query { get; set; } = [];

    protected override void ProcessRecord()
    {
        var connection = BackupServer.Resolve(Backup, ResolveConnection(), ConnectionGiven);
        RunForItem(Backup, async context =>
        {
            var repository = await OpenRepositoryAsync(Backup.Repository, create: false, context);
            string walEntryPoint = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(typeof(TestPgBackupCommand).Assembly.Location)!, "bin", PgBackupTools.Core.Wal.WalCommands.EntryPointFileName);
            var result = await BackupTestJob.RunAsync(repository, Backup, connection, Restore, Query, context, walEntryPoint);
            PostObject(result);
            if (!result.Passed)
            {
                var failed = result.Error ?? string.Join("; ", result.Checks.Where(c => !c.Passed).Select(c => $"{c.Kind} {c.Name}: expected {c.Expected}, got {c.Actual}"));
                Post(() => WriteError(new ErrorRecord(new InvalidOperationException($"Backup {Backup.Id} failed its test: {failed}"),
                    "BackupTestFailed", ErrorCategory.InvalidResult, Backup)));
            }
        });
    }
}
