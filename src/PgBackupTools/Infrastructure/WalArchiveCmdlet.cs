using System.Management.Automation;
using PgBackupTools.Core;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// What Send-PgWalSegment and Receive-PgWalSegment share: the repository and stanza of one WAL archive, opened
/// (and for an encrypted repository unlocked) once per invocation, its key zeroed when the pipeline ends.
/// </summary>
public abstract class WalArchiveCmdlet : PgRepositoryCmdlet
{
    [RepositoryTransformation]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = WalArchive.DefaultStanza;

    private WalArchive? _archive;

    protected async Task<WalArchive> OpenArchiveAsync(OperationContext context) =>
        _archive ??= await WalArchive.OpenAsync(ResolveRepositoryLocation(Repository), Stanza, context.CancellationToken, GetPassphraseSource());

    protected override void DisposeKeys()
    {
        _archive?.Repository.Dispose();
        _archive = null;
    }
}
