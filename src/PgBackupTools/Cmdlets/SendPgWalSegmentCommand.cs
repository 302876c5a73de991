using System.Management.Automation;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Wal;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Pushes WAL files into a repository's archive, as archive_command does (interactive use; PostgreSQL itself runs the
/// pgbt-wal entry point, which starts in milliseconds).
/// </summary>
[Cmdlet(VerbsCommunications.Send, "PgWalSegment")]
[OutputType(typeof(PgWalSegment))]
public sealed class SendPgWalSegmentCommand : WalArchiveCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    [Parameter]
    [ValidateSet("None", "Gzip", "Zstd")]
    public CompressionKind Compression { get; set; } = CompressionKind.Zstd;

    protected override void ProcessRecord()
    {
        foreach (var item in Path)
        {
            string path = GetUnresolvedProviderPathFromPSPath(item);
            RunForItem(path, async context =>
            {
                var archive = await OpenArchiveAsync(context);
                context.Log($"Pushing {path} into stanza '{Stanza}' of {archive.Repository.Location}.");
                PostObject(await archive.PushAsync(path, new WalPushOptions { Compression = Compression }, context));
            });
        }
    }
}
