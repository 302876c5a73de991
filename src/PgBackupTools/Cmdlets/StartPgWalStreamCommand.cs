using System.Management.Automation;
using System.Runtime.InteropServices;
using PgBackupTools.Core;
using PgBackupTools.Core.Wal;
using PgBackupTools.Core.Wal.Streaming;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Streams WAL over the replication protocol into a repository's archive until Ctrl+C, SIGTERM or Stop-PgWalStream:
/// complete segments exactly as archive_command would store them, the open segment as a .partial rewritten every
/// -FlushInterval, and a slot that advances only for what the repository holds. Writes the final position when it stops.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "PgWalStream")]
[OutputType(typeof(PgWalStreamStatus))]
public sealed class StartPgWalStreamCommand : PgConnectedCmdlet
{
    [RepositoryTransformation]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = WalArchive.DefaultStanza;

    /// <summary>The physical replication slot that keeps the server's WAL until the repository holds it.</summary>
    [Parameter]
    [ValidatePattern("^[a-z0-9_]{1,63}$")]
    public string? Slot { get; set; }

    [Parameter]
    public SwitchParameter CreateSlot { get; set; }

    /// <summary>Confirm every durable write at once; put -ApplicationName into synchronous_standby_names for RPO 0.</summary>
    [Parameter]
    public SwitchParameter Synchronous { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ApplicationName { get; set; }

    [Parameter]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    [Parameter]
    public CompressionKind Compression { get; set; } = CompressionKind.Zstd;

    /// <summary>Where the lock and stop-request files live (default $PGBACKUPTOOLS_STATE_DIR, else the per-user state folder).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? StateDirectory { get; set; }

    protected override void ProcessRecord()
    {
        if (CreateSlot && Slot is null)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-CreateSlot needs -Slot <name>."), "CreateSlotWithoutSlot", ErrorCategory.InvalidArgument, null));
        if (FlushInterval <= TimeSpan.Zero || FlushInterval > TimeSpan.FromMinutes(10))
            ThrowTerminatingError(new ErrorRecord(new ArgumentOutOfRangeException(nameof(FlushInterval), "-FlushInterval must be between 0 and 10 minutes."), "FlushInterval", ErrorCategory.InvalidArgument, FlushInterval));
        var connection = ResolveConnection();
        string? stateDirectory = StateDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(StateDirectory);
        RunOrThrow(Repository, async context =>
        {
            var archive = await WalArchive.OpenAsync(ResolveRepositoryLocation(Repository), Stanza, context.CancellationToken, GetPassphraseSource());
            using var repository = archive.Repository;
            using var control = WalStreamControl.Acquire(repository.Store.Location, Stanza, Slot, stateDirectory);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
            // SIGTERM (systemd, docker stop, Stop-Process) and a stop request end the stream like Ctrl+C: flushed first.
            using var term = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal => { signal.Cancel = true; stop.Cancel(); });
            _ = control.WaitForStopRequestAsync(stop.Token).ContinueWith(t => { if (t.IsCompletedSuccessfully) stop.Cancel(); }, TaskScheduler.Default);
            var streamContext = new OperationContext { CancellationToken = stop.Token, Verbose = context.Verbose, Warning = context.Warning };
            var options = new WalStreamOptions
            {
                Slot = Slot, CreateSlot = CreateSlot, Synchronous = Synchronous, ApplicationName = ApplicationName, FlushInterval = FlushInterval,
                Push = new WalPushOptions { Compression = Compression },
            };
            context.Log($"Streaming WAL of {connection.Server} into stanza '{Stanza}' of {repository.Location} as application_name '{options.ApplicationNameFor(Stanza)}'; lock {control.LockPath}.");
            var receiver = new WalStreamReceiver(archive, connection, options)
            {
                Progress = new Progress(this, $"WAL stream {connection.Server} → {repository.Location} ({Stanza})"),
            };
            var state = await receiver.RunAsync(streamContext);
            PostObject(WalStreamStatus.From(archive, state));
        });
    }

    private sealed class Progress(StartPgWalStreamCommand cmdlet, string activity) : IProgress<WalStreamProgress>
    {
        public void Report(WalStreamProgress value) => cmdlet.Post(() => cmdlet.WriteProgress(new ProgressRecord(cmdlet.ProgressId, activity,
            $"durable through {Core.Backup.Lsn.Format(value.DurableLsn)} on timeline {value.Timeline}, server at {Core.Backup.Lsn.Format(value.ReceivedLsn)}")));
    }
}
