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
public sealed class SendPgWalSegmentCommand : PgRepositoryCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    [RepositoryTransformation]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = WalArchive.DefaultStanza;

    [Parameter]
    [ValidateSet("None", "Gzip", "Zstd")]
    public CompressionKind Compression { get; set; } = CompressionKind.Zstd;

    private WalArchive? _archive;

    /// <summary>Zeroes the unlocked key of an encrypted repository when the pipeline ends.</summary>
    protected override void DisposeKeys()
    {
        _archive?.Repository.Dispose();
        _archive = null;
    }

    protected override void ProcessRecord()
    {
        foreach (var item in Path)
        {
            string path = GetUnresolvedProviderPathFromPSPath(item);
            RunForItem(path, async context =>
            {
                _archive ??= await WalArchive.OpenAsync(ResolveRepositoryLocation(Repository), Stanza, context.CancellationToken, GetPassphraseSource());
                context.Log($"Pushing {path} into stanza '{Stanza}' of {_archive.Repository.Location}.");
                PostObject(await _archive.PushAsync(path, new WalPushOptions { Compression = Compression }, context));
            });
        }
    }
}
