using System.Management.Automation;
using PgBackupTools.Core.Monitoring;
using PgBackupTools.Core.Wal;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Checks that a server archives its WAL into a repository, like pgBackRest's check: wal_level, archive_mode,
/// archive_command, archive_timeout, the repository and the stanza's cluster, pg_stat_archiver, then a real
/// pg_switch_wal() and a wait until that segment is in the repository. Writes every check (with the fix when it did
/// not pass), then one non-terminating error if any failed, so scripts and schedulers see the failure.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "PgBackupConfiguration")]
[OutputType(typeof(PgConfigurationCheck))]
public sealed class TestPgBackupConfigurationCommand : PgConnectedCmdlet
{
    [RepositoryTransformation]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = WalArchive.DefaultStanza;

    /// <summary>How long to wait for the switched WAL segment to reach the repository.</summary>
    [Parameter]
    [DurationTransformation]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>archive_timeout above this is a warning.</summary>
    [Parameter]
    [DurationTransformation]
    public TimeSpan RpoTarget { get; set; } = new ObjectiveTargets().Rpo;

    protected override void ProcessRecord()
    {
        var options = new ConfigurationCheckOptions
        {
            Repository = ResolveRepositoryLocation(Repository),
            Stanza = Stanza,
            Server = ResolveConnection(),
            EntryPoint = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(typeof(TestPgBackupConfigurationCommand).Assembly.Location)!, "bin", WalCommands.EntryPointFileName),
            Passphrase = GetPassphraseSource(),
            Timeout = Timeout,
            RpoTarget = RpoTarget,
        };
        List<PgConfigurationCheck> checks = [];
        RunForItem(Repository, async context =>
        {
            context.Log($"Checking that {options.Server.Server} archives into stanza '{Stanza}' of {options.Repository}.");
            // Each check is written as soon as it is done, so the wait for the switched segment is not a silent one.
            checks = await ConfigurationChecker.RunAsync(options, PostObject, context);
        });
        var failed = checks.Where(c => c.Status == PgCheckStatus.Failed).ToList();
        if (failed.Count > 0)
        {
            string message = $"{failed.Count} of {checks.Count} configuration checks FAILED for {options.Server.Server} and {options.Repository}: " +
                string.Join(" ", failed.Select(c => $"[{c.Name}] {c.Fix}"));
            WriteError(new ErrorRecord(new InvalidOperationException(message), "BackupConfigurationCheckFailed", ErrorCategory.InvalidResult, options.Repository));
        }
    }
}
