using System.Globalization;
using System.Text;

namespace PgBackupTools.Core.Monitoring;

/// <summary>
/// Statuses as Prometheus text exposition format 0.0.4, for node_exporter's textfile collector. Every metric has
/// its HELP and TYPE line once, and its samples together; label values are escaped. Times are Unix seconds.
/// Labels: stanza, database ("" for the cluster: physical backups and WAL), type (Logical, Physical, Snapshot),
/// objective (backup_age, rpo, rto).
/// </summary>
public static class PrometheusExposition
{
    public const string Prefix = "postgres_backup_";

    private sealed class Metric(string name, string type, string help)
    {
        public string Name { get; } = Prefix + name;
        public string Type { get; } = type;
        public string Help { get; } = help;
        public List<string> Samples { get; } = [];

        public void Add(double value, params (string Name, string Value)[] labels)
        {
            var line = new StringBuilder(Name);
            if (labels.Length > 0)
            {
                line.Append('{');
                line.AppendJoin(',', labels.Select(l => $"{l.Name}=\"{Escape(l.Value)}\""));
                line.Append('}');
            }
            line.Append(' ').Append(FormatValue(value));
            Samples.Add(line.ToString());
        }
    }

    public static string Render(IReadOnlyList<PgBackupStatus> statuses, DateTimeOffset generated)
    {
        var lastSuccess = new Metric("last_success_timestamp_seconds", "gauge", "End time of the newest backup of this kind that exists in the repository.");
        var size = new Metric("last_size_bytes", "gauge", "Size of the newest backup as PostgreSQL produced it.");
        var stored = new Metric("last_stored_bytes", "gauge", "Bytes the repository holds for the newest backup.");
        var duration = new Metric("last_duration_seconds", "gauge", "How long the newest backup took.");
        var testTime = new Metric("test_restore_last_timestamp_seconds", "gauge", "Start time of the newest recorded test restore.");
        var testOk = new Metric("test_restore_last_success", "gauge", "1 if the newest recorded test restore passed, 0 if it failed.");
        var testDuration = new Metric("test_restore_duration_seconds", "gauge", "Measured restore time (RTO) of the newest recorded test restore.");
        var walTime = new Metric("wal_last_archived_timestamp_seconds", "gauge", "When the newest WAL segment was stored in the repository.");
        var walAge = new Metric("wal_last_archived_age_seconds", "gauge", "Age of the newest WAL segment in the repository when the metrics were written.");
        var walSegments = new Metric("wal_archived_segments", "gauge", "WAL segments of the stanza in the repository.");
        var walFailures = new Metric("wal_archive_failures_total", "counter", "archive_command failures since the server's statistics reset (pg_stat_archiver.failed_count).");
        var walFailing = new Metric("wal_archive_failing", "gauge", "1 if archive_command's last attempt failed after its last success (pg_stat_archiver).");
        var walLagBytes = new Metric("wal_archive_lag_bytes", "gauge", "WAL written by the server after the end of the newest archived segment.");
        var walLagSegments = new Metric("wal_archive_lag_segments", "gauge", "Complete WAL segments the server wrote that are not in the repository yet.");
        var streamTime = new Metric("wal_stream_flush_timestamp_seconds", "gauge", "When the WAL stream (Start-PgWalStream) last made WAL durable in the repository.");
        var streamLag = new Metric("wal_stream_lag_bytes", "gauge", "WAL the server has that the WAL stream has not made durable in the repository yet.");
        var target = new Metric("objective_target_seconds", "gauge", "Target of a recovery objective.");
        var measured = new Metric("objective_measured_seconds", "gauge", "Measured value of a recovery objective (absent when there is no evidence).");
        var met = new Metric("objective_met", "gauge", "1 if the recovery objective is met, 0 if it is missed or unproven.");
        var healthy = new Metric("healthy", "gauge", "1 if every recovery objective of this stanza/database is met.");
        var written = new Metric("metrics_generated_timestamp_seconds", "gauge", "When these metrics were written (alert on staleness of this file).");

        foreach (var status in statuses)
        {
            var scope = new[] { ("stanza", status.Stanza), ("database", status.Database ?? "") };
            foreach (var backup in status.LastBackups)
            {
                var labels = scope.Append(("type", backup.Type.ToString())).ToArray();
                lastSuccess.Add(backup.EndTime.ToUnixTimeMilliseconds() / 1000.0, labels);
                size.Add(backup.SizeBytes, labels);
                stored.Add(backup.StoredBytes, labels);
                duration.Add(backup.Duration.TotalSeconds, labels);
            }
            if (status.LastTestRestore is { } test)
            {
                testTime.Add(test.StartTime.ToUnixTimeMilliseconds() / 1000.0, scope);
                testOk.Add(test.Passed && status.LastTestRestoreAuthenticated ? 1 : 0, scope);
                if (test.Restored) testDuration.Add(test.Duration.TotalSeconds, scope);
            }
            if (status.Wal is { } wal)
            {
                var stanza = new[] { ("stanza", status.Stanza) };
                walSegments.Add(wal.SegmentsInRepository, stanza);
                if (wal.LastArchivedTime is { } archived)
                {
                    walTime.Add(archived.ToUnixTimeMilliseconds() / 1000.0, stanza);
                    walAge.Add(wal.LastArchivedAge!.Value.TotalSeconds, stanza);
                }
                if (wal.FailedCount is { } failures) walFailures.Add(failures, stanza);
                if (wal.ArchiverFailing is { } failing) walFailing.Add(failing ? 1 : 0, stanza);
                if (wal.ArchiveLagBytes is { } lagBytes) walLagBytes.Add(lagBytes, stanza);
                if (wal.ArchiveLagSegments is { } lagSegments) walLagSegments.Add(lagSegments, stanza);
                if (wal.StreamUpdated is { } streamed) streamTime.Add(streamed.ToUnixTimeMilliseconds() / 1000.0, stanza);
                if (wal.StreamLagBytes is { } streamLagBytes) streamLag.Add(streamLagBytes, stanza);
            }
            foreach (var objective in status.Objectives)
            {
                var labels = scope.Append(("objective", MetricName(objective.Objective))).ToArray();
                target.Add(objective.Target.TotalSeconds, labels);
                if (objective.Measured is { } m) measured.Add(m.TotalSeconds, labels);
                met.Add(objective.Status == PgObjectiveStatus.Met ? 1 : 0, labels);
            }
            healthy.Add(status.Healthy ? 1 : 0, scope);
        }
        written.Add(generated.ToUnixTimeMilliseconds() / 1000.0);

        var text = new StringBuilder();
        foreach (var metric in new[] { lastSuccess, size, stored, duration, testTime, testOk, testDuration, walTime, walAge, walSegments, walFailures,
                     walFailing, walLagBytes, walLagSegments, streamTime, streamLag, target, measured, met, healthy, written })
        {
            if (metric.Samples.Count == 0) continue;
            text.Append("# HELP ").Append(metric.Name).Append(' ').Append(metric.Help).Append('\n');
            text.Append("# TYPE ").Append(metric.Name).Append(' ').Append(metric.Type).Append('\n');
            foreach (var sample in metric.Samples) text.Append(sample).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>"Backup age" → "backup_age", "RPO" → "rpo".</summary>
    public static string MetricName(string objective) => objective.ToLowerInvariant().Replace(' ', '_');

    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static string FormatValue(double value) => value switch
    {
        double.NaN => "NaN",
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> atomically: a reader sees the old file or the new one, never a part.</summary>
    public static void WriteFile(string path, string text) =>
        Streams.Encryption.AtomicFileWriter.Write(path, overwrite: true, stream => stream.Write(Encoding.UTF8.GetBytes(text)), worldReadable: true);
}
