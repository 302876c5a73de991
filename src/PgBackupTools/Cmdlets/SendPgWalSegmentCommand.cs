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
                RefuseUnfinishedSegment(path);
                var archive = await OpenArchiveAsync(context);
                context.Log($"Pushing {path} into stanza '{Stanza}' of {archive.Repository.Location}.");
                PostObject(await archive.PushAsync(path, new WalPushOptions { Compression = Compression }, context));
            });
        }
    }

    /// <summary>
    /// A segment in a live pg_wal (one with an archive_status folder) that PostgreSQL has not marked .ready or .done is
    /// the one it is writing, or a recycled file waiting for reuse. Archived now, its copy would differ from the finished
    /// segment, and archive_command's push of that would be refused (different content) again and again while pg_wal fills.
    /// </summary>
    private static void RefuseUnfinishedSegment(string path)
    {
        string name = System.IO.Path.GetFileName(path);
        if (!WalFileName.TryParse(name, out var wal) || wal.Kind != WalFileKind.Segment) return;
        string status = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path) ?? ".", "archive_status");
        if (!Directory.Exists(status) || File.Exists(System.IO.Path.Combine(status, name + ".ready")) || File.Exists(System.IO.Path.Combine(status, name + ".done")))
            return;
        throw new Core.Errors.PgBackupException(Core.Errors.FailureKind.InvalidArgument,
            $"{path} is not finished: PostgreSQL has marked it neither .ready nor .done in {status}, so it is the segment being written (or a recycled one). " +
            "Archived now, its copy would differ from the finished segment, and archive_command would then fail on it for good. " +
            "Push only segments with a .ready file (or let archive_command do it); a copy of a finished segment elsewhere is pushed as it is.", path);
    }
}
