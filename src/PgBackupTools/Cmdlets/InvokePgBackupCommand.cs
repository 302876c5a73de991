using System.Collections;
using System.Management.Automation;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;
using PgBackupTools.Core.Streams;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Backs up databases into a repository and writes one PgBackup per database. A new repository created with a
/// passphrase is encrypted; an encrypted one needs its passphrase, which is checked before anything is written.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "PgBackup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = LogicalSet)]
[OutputType(typeof(PgBackup))]
public sealed class InvokePgBackupCommand : PgConnectedCmdlet
{
    private const string LogicalSet = "Logical";
    private const string PhysicalSet = "Physical";

    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [RepositoryTransformation]
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = LogicalSet)]
    [Alias("Name", "DatabaseName", "datname")]
    [ValidateNotNullOrEmpty]
    public string[] Database { get; set; } = [];

    /// <summary>
    /// Physical: a base backup of the whole cluster, for PITR. Only in its own parameter set, so that "-Type Physical"
    /// alone selects it (in both sets, PowerShell would pick the default Logical one and ask for -Database); without
    /// -Type the backup is logical (pg_dump of each -Database).
    /// </summary>
    [Parameter(Mandatory = true, ParameterSetName = PhysicalSet)]
    [ValidateSet("Physical")]
    public BackupType Type { get; set; } = BackupType.Logical;

    [Parameter(ParameterSetName = LogicalSet)]
    public DumpFormat Format { get; set; } = DumpFormat.Plain;

    /// <summary>Default Gzip for logical backups, Zstd for physical ones.</summary>
    [Parameter]
    public CompressionKind Compression { get; set; } = CompressionKind.Gzip;

    [Parameter]
    [ValidateRange(0, 22)]
    public int? CompressionLevel { get; set; }

    [Parameter(ParameterSetName = LogicalSet)]
    [ValidateRange(1, 64)]
    public int Jobs { get; set; } = 1;

    /// <summary>Physical: FileCopy reads the data directory (on the server's host), BaseBackup streams pg_basebackup; Auto picks.</summary>
    [Parameter(ParameterSetName = PhysicalSet)]
    public PhysicalBackupMethod Method { get; set; } = PhysicalBackupMethod.Auto;

    /// <summary>Physical: how long to wait for the backup's last WAL segment to reach the repository's archive.</summary>
    [Parameter(ParameterSetName = PhysicalSet)]
    [ValidateRange(1, 86400)]
    public int ArchiveTimeoutSeconds { get; set; } = 120;

    [ArgumentCompleter(typeof(StanzaCompleter))]
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = "main";

    [Parameter]
    public Hashtable? Label { get; set; }

    /// <summary>After the backups succeeded, remove the backups of the same databases that are older than this many days (the newest before the window stays).</summary>
    [Parameter]
    [ValidateRange(0, 36500)]
    public int? RetentionDays { get; set; }

    /// <summary>After the backups succeeded, keep at least this many newest backups of each database.</summary>
    [Parameter]
    [ValidateRange(1, 100000)]
    public int? KeepLast { get; set; }

    private BackupRepository? _repository;
    private string _location = "";
    private readonly List<PgBackup> _succeeded = [];

    protected override void BeginProcessing()
    {
        RunOrThrow(Repository, async context =>
        {
            _location = ResolveRepositoryLocation(Repository);
            if (WhatIfRequested)
            {
                // -WhatIf changes nothing, so a repository that is not there yet is not created either.
                try { _repository = await OpenRepositoryAsync(_location, create: false, context); }
                catch (PgBackupException e) when (e.Kind == FailureKind.NotFound) { context.Log($"{_location} has no repository yet: a real run creates it."); }
                return;
            }
            // Before the repository is created: a physical backup of a server that archives nothing can never be kept.
            if (ParameterSetName == PhysicalSet)
                await WalArchivingPrecheck.ThrowIfWalCannotReachArchiveAsync(ResolveConnection(), _location, context.CancellationToken);
            _repository = await OpenRepositoryAsync(_location, create: true, context);
        });
        if (_repository is not null) RecentRepositories.Remember(_repository.Location);
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == PhysicalSet)
        {
            BackupPhysical();
            return;
        }
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
            if (!ShouldProcess($"database '{database}'", $"Back up into {_location}")) continue;
            RunForItem(database, async context =>
            {
                var connection = ResolveConnection(database);
                var backup = await LogicalBackupJob.RunAsync(_repository!, connection, options, context);
                _succeeded.Add(backup);
                PostObject(backup);
            });
        }
    }

    private void BackupPhysical()
    {
        var options = new PhysicalBackupOptions
        {
            Compression = MyInvocation.BoundParameters.ContainsKey(nameof(Compression)) ? Compression : CompressionKind.Zstd,
            CompressionLevel = CompressionLevel,
            Stanza = Stanza,
            ArchiveTimeout = TimeSpan.FromSeconds(ArchiveTimeoutSeconds),
            Method = Method,
            Labels = Label?.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? ""),
        };
        var connection = ResolveConnection();
        if (!ShouldProcess($"cluster {connection.Server}", $"Physical base backup into {_location}")) return;
        RunForItem(connection.Server, async context =>
        {
            var backup = await PhysicalBackupJob.RunAsync(_repository!, connection, options, context);
            _succeeded.Add(backup);
            PostObject(backup);
        });
    }

    protected override void EndProcessing()
    {
        if ((RetentionDays is not null || KeepLast is not null) && _repository is not null) ApplyRetention();
        base.EndProcessing();
    }

    /// <summary>The retention policy, over the groups (stanza, database) that got a new backup in this run only.</summary>
    private void ApplyRetention()
    {
        var policy = new RetentionPolicy { RetentionDays = RetentionDays, KeepLast = KeepLast };
        var groups = _succeeded.Select(RetentionPlanner.GroupOf).ToHashSet();
        IReadOnlyList<RetentionDecision> decisions = [];
        RunOrThrow(Repository, async context =>
        {
            policy.Validate();
            var backups = (await _repository!.ListBackupsAsync(Stanza, context)).Where(b => groups.Contains(RetentionPlanner.GroupOf(b)));
            decisions = RetentionPlanner.Plan(backups, policy, DateTimeOffset.UtcNow);
        });
        foreach (var removal in decisions.Where(d => !d.Keep)) RemoveBackup(_repository!, removal.Backup, removal.Reason, force: false, passThru: false);
        if (_succeeded.Any(b => b.Type == BackupType.Physical))
            PruneWal(_repository!, Stanza, decisions.Where(d => !d.Keep).Select(d => d.Backup.Id).ToList(), force: false, passThru: false);
    }
}
