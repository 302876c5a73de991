using System.Collections;
using System.Management.Automation;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Backs up databases into a repository and writes one PgBackup per database. A new repository created with a
/// passphrase is encrypted; an encrypted one needs its passphrase, which is checked before anything is written.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PgBackup")]
[OutputType(typeof(PgBackup))]
public sealed class InvokePgBackupCommand : PgConnectedCmdlet
{
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [RepositoryTransformation]
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Name", "DatabaseName", "datname")]
    [ValidateNotNullOrEmpty]
    public string[] Database { get; set; } = [];

    [Parameter]
    public DumpFormat Format { get; set; } = DumpFormat.Plain;

    [Parameter]
    public CompressionKind Compression { get; set; } = CompressionKind.Gzip;

    [Parameter]
    [ValidateRange(0, 22)]
    public int? CompressionLevel { get; set; }

    [Parameter]
    [ValidateRange(1, 64)]
    public int Jobs { get; set; } = 1;

    [ArgumentCompleter(typeof(StanzaCompleter))]
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = "main";

    [Parameter]
    public Hashtable? Label { get; set; }

    private BackupRepository? _repository;

    protected override void BeginProcessing()
    {
        RunOrThrow(Repository, async context =>
            _repository = await OpenRepositoryAsync(ResolveRepositoryLocation(Repository), create: true, context));
        RecentRepositories.Remember(_repository!.Location);
    }

    protected override void ProcessRecord()
    {
        foreach (var database in Database)
        {
            var options = new LogicalBackupOptions
            {
                Database = database,
                Format = Format,
                Compression = Compression,
                CompressionLevel = CompressionLevel,
                Jobs = Jobs,
                Stanza = Stanza,
                Labels = Label?.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? ""),
            };
            RunForItem(database, async context =>
            {
                var connection = ResolveConnection(database);
                PostObject(await LogicalBackupJob.RunAsync(_repository!, connection, options, context));
            });
        }
    }
}
