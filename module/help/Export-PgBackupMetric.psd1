@{
    Synopsis    = "Writes backup status as Prometheus metrics for node_exporter's textfile collector, atomically."
    Description = @'
Collects the same status as Get-PgBackupStatus (or takes PgBackupStatus objects from the pipeline) and writes it in
the Prometheus text format to -Path: a temp file in the same folder (not ending in .prom, so the collector ignores
it), flushed to disk, then renamed over the old file. The collector reads the old file or the new one, never a part.
The file is readable by other users (node_exporter usually runs as its own user). If the status cannot be collected,
no file is written and an error is reported, so the metrics go stale and postgres_backup_metrics_generated_timestamp_seconds
shows it.

Metrics (labels stanza, database ("" for the cluster), type, objective):
postgres_backup_last_success_timestamp_seconds, postgres_backup_last_size_bytes, postgres_backup_last_stored_bytes,
postgres_backup_last_duration_seconds, postgres_backup_test_restore_last_timestamp_seconds,
postgres_backup_test_restore_last_success, postgres_backup_test_restore_duration_seconds,
postgres_backup_wal_last_archived_timestamp_seconds, postgres_backup_wal_last_archived_age_seconds,
postgres_backup_wal_archived_segments, postgres_backup_wal_archive_failures_total, postgres_backup_wal_archive_failing,
postgres_backup_wal_archive_lag_bytes, postgres_backup_wal_archive_lag_segments, postgres_backup_objective_target_seconds,
postgres_backup_objective_measured_seconds, postgres_backup_objective_met, postgres_backup_healthy,
postgres_backup_metrics_generated_timestamp_seconds. examples/prometheus-alerts.yml has alert rules for them.
'@
    Parameters  = @{
        Path         = 'The .prom file to write, in the folder node_exporter reads (--collector.textfile.directory).'
        InputObject  = 'PgBackupStatus objects from Get-PgBackupStatus.'
        PassThru     = 'Write the FileInfo of the metrics file.'
        Repository   = 'The repository: a directory, s3://bucket/prefix or az://account/container/prefix, or a PgRepository from New-PgRepository.'
        Stanza       = 'Only this stanza. Default: every stanza in the repository.'
        Database     = "Only this database's logical backups."
        RpoTarget    = 'Recovery point objective for postgres_backup_objective_met{objective="rpo"}. Default: 5min.'
        RtoTarget    = 'Recovery time objective for postgres_backup_objective_met{objective="rto"}. Default: 1h.'
        MaxBackupAge = 'Maximum backup age for postgres_backup_objective_met{objective="backup_age"}. Default: 25h.'
        HostName     = 'Server host name, IP address or Unix socket directory (PGHOST). Giving any connection parameter adds the archiver failures and the archive lag.'
    }
    Examples    = @(
        @{
            Code    = 'Export-PgBackupMetric -Repository /srv/pgbackup -HostName /var/run/postgresql -Username postgres -Path /var/lib/prometheus/node-exporter/pgbackup.prom'
            Remarks = 'Run every minute or five from cron: node_exporter serves the metrics, examples/prometheus-alerts.yml alerts on them.'
        }
        @{
            Code    = 'Get-PgBackupStatus -Repository /srv/pgbackup -RpoTarget 15min | Export-PgBackupMetric -Path ./pgbackup.prom -PassThru'
            Remarks = 'Writes statuses collected earlier, and returns the file.'
        }
    )
}
