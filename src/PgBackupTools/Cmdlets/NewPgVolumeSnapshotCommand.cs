using System.Collections;
using System.Management.Automation;
using PgBackupTools.Core.Snapshots;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Snapshots a set of volumes together. With -Repository the set is a consistent Snapshot backup: pg_backup_start,
/// the snapshots, pg_backup_stop, then a manifest in the repository's catalog with the backup label and WAL range.
/// Without it the snapshots are only crash-consistent.
/// </summary>
[Cmdlet(VerbsCommon.New, "PgVolumeSnapshot")]
[OutputType(typeof(PgVolumeSnapshot))]
public sealed class NewPgVolumeSnapshotCommand : SnapshotProviderCmdlet
{
    /// <summary>vol-… (AWS), disk names (GCP), disk resource ids (Azure): every volume the cluster's data lives on.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Disk", "DiskId")]
    [ValidateNotNullOrEmpty]
    public string[] VolumeId { get; set; } = [];

    /// <summary>GCP zone of the disks.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Zone { get; set; }

    /// <summary>The repository whose catalog records the consistent Snapshot backup (and whose WAL archive it needs).</summary>
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [RepositoryTransformation]
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [ArgumentCompleter(typeof(StanzaCompleter))]
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = "main";

    /// <summary>More tags for every snapshot.</summary>
    [Parameter]
    public Hashtable? Tag { get; set; }

    /// <summary>How long to wait for the WAL through the stop LSN to reach the repository's archive.</summary>
    [Parameter]
    public TimeSpan ArchiveTimeout { get; set; } = TimeSpan.FromMinutes(2);

    [Parameter]
    [Alias("Host", "Server")]
    [ValidateNotNullOrEmpty]
    public string? HostName { get; set; }

    [Parameter]
    [ValidateRange(1, 65535)]
    public int? Port { get; set; }

    [Parameter]
    [Alias("User")]
    [ValidateNotNullOrEmpty]
    public string? Username { get; set; }

    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConnectionString { get; set; }

    private readonly List<string> _volumes = [];

    protected override void ProcessRecord() => _volumes.AddRange(VolumeId);

    protected override void EndProcessing()
    {
        var volumes = _volumes.Distinct(StringComparer.Ordinal).ToList();
        RunOrThrow(string.Join(", ", volumes), async context =>
        {
            var target = Target(zone: Zone);
            var provider = OpenProvider(target);
            var tags = ToTags(Tag);
            if (Repository is null)
            {
                context.Warn("No -Repository: these snapshots are crash-consistent only (PostgreSQL is not told, no WAL range is recorded). Give -Repository and the connection to take a consistent Snapshot backup.");
                string setId = Core.Repository.RepositoryNames.NewBackupId(DateTimeOffset.UtcNow);
                var started = await SnapshotSet.StartAsync(provider, volumes, setId, tags, context);
                List<PgVolumeSnapshot> done;
                try
                {
                    done = await SnapshotSet.WaitForCompletionAsync(provider, started, target, $"Snapshots of set {setId}", context);
                }
                catch
                {
                    await SnapshotSet.AbandonAsync(provider, setId, started, context);
                    throw;
                }
                foreach (var s in done) PostObject(s);
                return;
            }
            var repository = await OpenRepositoryAsync(ResolveRepositoryLocation(Repository), create: false, context);
            RecentRepositories.Remember(repository.Location);
            var server = PgConnectedCmdlet.ResolveConnection(HostName, Port, Username, Credential, ConnectionString);
            var backup = await SnapshotBackupJob.RunAsync(repository, server, provider, target, volumes,
                new SnapshotBackupOptions { Stanza = Stanza, Tags = tags, ArchiveTimeout = ArchiveTimeout }, context);
            foreach (var s in backup.Snapshots!) PostObject(s);
        });
        base.EndProcessing();
    }
}
