using System.Management.Automation;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Wal;
using PgBackupTools.Core.Wal.Streaming;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Stops the WAL stream of a repository and stanza that runs on this machine (in a service, a job or another
/// terminal): it asks through the stream's stop-request file and waits until the stream has flushed and exited.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "PgWalStream", SupportsShouldProcess = true)]
[OutputType(typeof(PgWalStreamStatus))]
public sealed class StopPgWalStreamCommand : PgRepositoryCmdlet
{
    [RepositoryTransformation]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = WalArchive.DefaultStanza;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? StateDirectory { get; set; }

    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSeconds { get; set; } = 60;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        string location = ResolveRepositoryLocation(Repository);
        string? stateDirectory = StateDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(StateDirectory);
        var running = WalStreamControl.FindRunning(location, Stanza, stateDirectory);
        if (running is null)
        {
            WriteError(ToErrorRecord(new PgBackupException(FailureKind.NotFound,
                $"No WAL stream of stanza '{Stanza}' in {location} runs on this machine (no held lock in {WalStreamControl.StateDirectoryOf(stateDirectory)}). " +
                "A stream started with another -StateDirectory or PGBACKUPTOOLS_STATE_DIR is found only with the same one.", location), location));
            return;
        }
        if (!ShouldProcess($"WAL stream of stanza '{Stanza}' in {location} (process {running.ProcessId})", "Stop")) return;
        RunForItem(location, async context =>
        {
            context.Log($"Asking the WAL stream in process {running.ProcessId} to flush and stop.");
            await WalStreamControl.RequestStopAsync(location, Stanza, TimeSpan.FromSeconds(TimeoutSeconds), context.CancellationToken, stateDirectory);
            if (!PassThru) return;
            var archive = await WalArchive.OpenAsync(location, Stanza, context.CancellationToken, GetPassphraseSource(), keyRequired: false);
            using var repository = archive.Repository;
            PostObject(WalStreamStatus.From(archive, await WalStreamState.ReadAsync(archive, context.CancellationToken), running.ProcessId));
        });
    }
}
