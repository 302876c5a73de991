using System.Management.Automation;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Wal;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>Fetches WAL files from a repository's archive, verified, as restore_command does (interactive use).</summary>
[Cmdlet(VerbsCommunications.Receive, "PgWalSegment", SupportsShouldProcess = true)]
[OutputType(typeof(PgWalSegment))]
public sealed class ReceivePgWalSegmentCommand : WalArchiveCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = [];

    /// <summary>A file path, or an existing directory to write each file into under its own name.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    [Parameter]
    [ValidateRange(0, 64)]
    public int Prefetch { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            string destination = GetUnresolvedProviderPathFromPSPath(Destination);
            if (Directory.Exists(destination)) destination = System.IO.Path.Combine(destination, name);
            if (!ShouldProcess(destination, $"Write WAL file {name} from the archive")) continue;
            RunForItem(name, async context =>
            {
                var archive = await OpenArchiveAsync(context);
                var result = await archive.GetAsync(name, destination, new WalGetOptions { Prefetch = Prefetch }, context)
                    ?? throw new PgBackupException(FailureKind.NotFound,
                        $"WAL file {name} is not in stanza '{Stanza}' of {archive.Repository.Location}. Test-PgWalArchive lists what is archived.", name);
                PostObject(result);
            });
        }
    }
}
