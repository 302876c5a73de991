using System.Management.Automation;
using PgBackupTools.Core.Monitoring;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Writes backup status as Prometheus metrics for node_exporter's textfile collector, atomically (a temp file in the
/// same folder, fsync, rename), so the collector reads the old file or the new one, never a part. Takes a repository
/// (and optionally a server) like Get-PgBackupStatus, or status objects from the pipeline.
/// </summary>
[Cmdlet(VerbsData.Export, "PgBackupMetric", SupportsShouldProcess = true, DefaultParameterSetName = RepositorySet)]
[OutputType(typeof(FileInfo))]
public sealed class ExportPgBackupMetricCommand : BackupStatusCmdlet
{
    private const string InputObjectSet = "InputObject";

    /// <summary>The .prom file to write, e.g. /var/lib/prometheus/node-exporter/pgbackup.prom.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Status objects from Get-PgBackupStatus.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    [ValidateNotNull]
    public PgBackupStatus[] InputObject { get; set; } = [];

    /// <summary>Write the file's FileInfo.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private readonly List<PgBackupStatus> _statuses = [];
    private bool _failed;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == InputObjectSet)
        {
            _statuses.AddRange(InputObject);
            return;
        }
        try
        {
            Run(async context => _statuses.AddRange(await CollectStatusAsync(context)));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            // No file rather than one that claims less than is true; the stale file's metrics_generated timestamp shows it.
            _failed = true;
            WriteError(ToErrorRecord(e, Repository));
        }
    }

    protected override void EndProcessing()
    {
        try
        {
            if (_failed) return;
            string path = GetUnresolvedProviderPathFromPSPath(Path);
            if (!ShouldProcess(path, $"Write {_statuses.Count} status(es) as Prometheus metrics")) return;
            try
            {
                PrometheusExposition.WriteFile(path, PrometheusExposition.Render(_statuses, DateTimeOffset.UtcNow));
                WriteVerbose($"Wrote the metrics of {_statuses.Count} status(es) to {path}.");
                if (PassThru) WriteObject(FileSystemItem(path));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteError(new ErrorRecord(e, "MetricFileNotWritten", ErrorCategory.WriteError, path)
                {
                    ErrorDetails = new ErrorDetails($"Could not write the metrics file {path}: {e.Message} Check that its folder exists and this user may write into it."),
                });
            }
        }
        finally
        {
            base.EndProcessing();
        }
    }
}
