using System.Management.Automation;
using PgBackupTools.Core.Monitoring;
using PgBackupTools.Core.Wal;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Checks a stanza's WAL archive: continuity from the oldest archived segment of each timeline (or -StartSegment) to
/// the newest, with every missing range named; with a server, also pg_stat_archiver (failures, age of the last archive).
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "PgWalArchive")]
[OutputType(typeof(PgWalArchiveReport))]
public sealed class TestPgWalArchiveCommand : PgConnectedCmdlet
{
    [RepositoryTransformation]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = WalArchive.DefaultStanza;

    /// <summary>Check from this segment on (e.g. the start of the oldest base backup you keep).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? StartSegment { get; set; }

    protected override void ProcessRecord()
    {
        bool askServer = ServerRequested;
        var connection = askServer ? ResolveConnection() : null;
        RunForItem(Repository, async context =>
        {
            // The continuity check lists names only: an encrypted repository needs no key, though one that is given is checked.
            var archive = await WalArchive.OpenAsync(ResolveRepositoryLocation(Repository), Stanza, context.CancellationToken, GetPassphraseSource(), keyRequired: false);
            using var repository = archive.Repository; // zeroes a key that was given and checked
            context.Log($"Checking the continuity of stanza '{Stanza}' in {archive.Repository.Location}.");
            var report = await archive.CheckContinuityAsync(StartSegment, context.CancellationToken);
            if (connection is not null)
            {
                context.Log($"Reading pg_stat_archiver on {connection.Server}.");
                (await ServerWalPosition.ReadAsync(connection, context.CancellationToken)).ApplyTo(report);
            }
            PostObject(report);
        });
    }
}
