using System.Diagnostics;
using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;

namespace PgBackupTools.Core.Verify;

/// <summary>
/// Proves a backup. Always: every stored file's SHA-256 against the manifest. With a restore: the backup restored
/// into a scratch database, every table's row count compared with the count recorded at backup time, the extra
/// queries run, the scratch database dropped. The restore's wall time is the measured RTO.
/// </summary>
public static class BackupTestJob
{
    /// <param name="walEntryPoint">Physical backups: the pgbt-wal executable the scratch server's restore_command runs.</param>
    /// <remarks>
    /// The result, passed or failed, is recorded in the repository beside the backup (<see cref="BackupTestRecords"/>):
    /// Get-PgBackupStatus reads the last test restore and its measured RTO from there.
    /// </remarks>
    public static async Task<PgBackupTestResult> RunAsync(BackupRepository repository, PgBackup backup, PgConnectionInfo? server,
        bool restore, IReadOnlyList<string> queries, OperationContext context, string? walEntryPoint = null)
    {
        backup = await repository.GetAuthenticatedBackupAsync(backup, context.CancellationToken).ConfigureAwait(false);
        var result = await TestAsync(repository, backup, server, restore, queries, context, walEntryPoint).ConfigureAwait(false);
        try
        {
            await BackupTestRecords.WriteAsync(repository, backup, result, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            context.Warn($"The test of backup {backup.Id} could not be recorded in {repository.Location} ({e.Message}); Get-PgBackupStatus will not see it.");
        }
        return result;
    }

    private static async Task<PgBackupTestResult> TestAsync(BackupRepository repository, PgBackup backup, PgConnectionInfo? server,
        bool restore, IReadOnlyList<string> queries, OperationContext context, string? walEntryPoint)
    {
        var ct = context.CancellationToken;
        var result = new PgBackupTestResult
        {
            BackupId = backup.Id, Stanza = backup.Stanza, Database = backup.Database, Type = backup.Type, StartTime = DateTimeOffset.UtcNow,
            Repository = repository.Location, RestoreRequested = restore,
        };
        var clock = Stopwatch.StartNew();
        var meter = new ProgressMeter(context, $"Test of backup {backup.Id}", backup.StoredBytes) { Status = "verifying checksums" };
        foreach (var file in backup.Files)
        {
            var actual = await BackupFileReader.HashStoredAsync(repository, backup, file, meter.Add, ct).ConfigureAwait(false);
            result.Checks.Add(new PgBackupCheck { Kind = "Checksum", Name = file.Name, Expected = file.StoredSha256, Actual = actual, Passed = actual == file.StoredSha256 });
        }
        if (backup.Type == BackupType.Snapshot)
        {
            if (restore)
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"Backup {backup.Id} is a Snapshot backup: -Restore cannot restore it into a scratch server. Restore-PgVolumeSnapshot creates its volumes, and Restore-PgDatabase -DataDirectory recovers the mounted data directory.", backup.Id);
            result.Checks.AddRange(await Snapshots.SnapshotBackupCheck.RunAsync(backup, ct).ConfigureAwait(false));
            result.Duration = clock.Elapsed;
            var missing = result.Checks.FirstOrDefault(c => !c.Passed);
            if (missing is not null) result.Error = $"Snapshot {missing.Name} of backup {backup.Id} is {missing.Actual}, expected {missing.Expected}: the backup cannot be restored from it.";
            result.Passed = result.Error is null;
            return result;
        }
        result.Duration = clock.Elapsed;
        if (result.Checks.Any(c => !c.Passed))
        {
            var bad = result.Checks.First(c => !c.Passed);
            result.Error = $"Checksum mismatch in '{BackupRepository.BackupFileKey(backup.Stanza, backup.Id, bad.Name)}': the stored bytes differ from the manifest.";
            return result;
        }
        if (restore && backup.Type == BackupType.Physical)
        {
            await RestorePhysicalAndCheckAsync(repository, backup, server, queries, walEntryPoint, result, context).ConfigureAwait(false);
        }
        else if (restore)
        {
            if (server is null)
                throw new PgBackupException(FailureKind.InvalidArgument, "-Restore needs a server to restore into: give -Host/-Port or set PGHOST/PGPORT.");
            await RestoreAndCheckAsync(repository, backup, server, queries, result, context).ConfigureAwait(false);
        }
        result.Passed = result.Error is null && result.Checks.All(c => c.Passed);
        return result;
    }

    private static async Task RestoreAndCheckAsync(BackupRepository repository, PgBackup backup, PgConnectionInfo server,
        IReadOnlyList<string> queries, PgBackupTestResult result, OperationContext context)
    {
        var ct = context.CancellationToken;
        string scratch = ScratchDatabases.NewName(ScratchDatabases.TestPrefix);
        result.ScratchDatabase = scratch;
        try
        {
            var restored = await LogicalRestoreJob.RunAsync(repository, backup, server, new LogicalRestoreOptions { TargetDatabase = scratch, ScratchPurpose = ScratchDatabases.TestPurpose }, context).ConfigureAwait(false);
            result.Restored = true;
            result.Duration = restored.Duration;
            await using var connection = await PgServer.OpenAsync(server.WithDatabase(scratch), ct).ConfigureAwait(false);
            var counts = await PgServer.CountTableRowsAsync(connection, ct).ConfigureAwait(false);
            foreach (var table in backup.TableRowCounts.Keys.Union(counts.Keys).Order(StringComparer.Ordinal))
            {
                long? expected = backup.TableRowCounts.TryGetValue(table, out var e) ? e : null;
                long? actual = counts.TryGetValue(table, out var a) ? a : null;
                result.Checks.Add(new PgBackupCheck
                {
                    Kind = "RowCount", Name = table, Expected = expected?.ToString() ?? "(absent)", Actual = actual?.ToString() ?? "(absent)", Passed = expected == actual,
                });
            }
            foreach (var query in queries) result.Checks.Add(await RunQueryCheckAsync(connection, query, ct).ConfigureAwait(false));
        }
        catch (PgBackupException e)
        {
            result.Error = e.Message;
        }
        finally
        {
            await using var admin = await PgServer.OpenAsync(server.WithDatabase("postgres"), CancellationToken.None).ConfigureAwait(false);
            await LogicalRestoreJob.DropQuietlyAsync(admin, scratch, context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A physical backup restored into a scratch directory on a free port, checked with pg_verifybackup against the
    /// backup_manifest pg_basebackup put in it (before the server touches a file), recovered to its consistent point
    /// (recovery_target = immediate: the backup and its own WAL, nothing later), asked a question, stopped and removed.
    /// </summary>
    private static async Task RestorePhysicalAndCheckAsync(BackupRepository repository, PgBackup backup, PgConnectionInfo? server,
        IReadOnlyList<string> queries, string? walEntryPoint, PgBackupTestResult result, OperationContext context)
    {
        var ct = context.CancellationToken;
        string scratch = Path.Combine(Path.GetTempPath(), "pgbt-test-restore-" + Guid.NewGuid().ToString("N")[..12]);
        // Every tablespace is restored beside the scratch directory, never to its original location: that is the live
        // server's. TablespaceRoot maps them from the authenticated manifest's list, not from the piped object's.
        string scratchTablespaces = scratch + "-tablespaces";
        result.ScratchDatabase = scratch;
        var options = new PhysicalRestoreOptions
        {
            DataDirectory = scratch,
            Immediate = true,
            WalEntryPoint = walEntryPoint ?? throw new PgBackupException(FailureKind.InvalidArgument, "A physical test restore needs the pgbt-wal entry point for restore_command."),
            Port = ScratchServer.Port,
            Username = server?.Username,
            TablespaceRoot = scratchTablespaces,
            // Never archives into the repository; reachable only through a socket in its own directory.
            Settings = ScratchServer.Settings(scratch),
            ServerHost = scratch,
            RestoreConfiguration = false,
        };
        bool started = false;
        try
        {
            var (walCheck, plan) = await CheckWalToNewestAsync(repository, backup, ct).ConfigureAwait(false);
            result.Checks.Add(walCheck);
            var restored = await PhysicalRestoreJob.RunAsync(repository, backup, options, context, plan).ConfigureAwait(false);
            result.Restored = true;
            result.Checks.Add(VerifyBackup(scratch, restored.Tablespaces is { Count: > 0 }, context));
            // After pg_verifybackup: the configuration written from the backup's external files is not in backup_manifest.
            var configuration = await RestoredConfiguration.RestoreAsync(repository, backup, scratch, context).ConfigureAwait(false);
            ScratchServer.Prepare(scratch, options.Owner, configuration, context);
            started = true;
            var clock = Stopwatch.StartNew();
            await PhysicalRestoreJob.StartAndWaitAsync(repository, scratch, options, restored, context).ConfigureAwait(false);
            result.Duration = restored.Duration + clock.Elapsed;
            result.Checks.Add(new PgBackupCheck { Kind = "Recovery", Name = "consistent point", Expected = $"at or after {backup.StopLsn}", Actual = restored.ReachedLsn,
                Passed = restored.ReachedLsn is not null && backup.StopLsn is not null && Backup.Lsn.Parse(restored.ReachedLsn) >= Backup.Lsn.Parse(backup.StopLsn) });
            var info = PgConnectionInfo.Resolve(host: scratch, port: options.Port, username: server?.Username ?? "postgres", database: "postgres", password: null, environment: new Dictionary<string, string?>());
            await using var connection = await PgServer.OpenAsync(info, ct).ConfigureAwait(false);
            result.Checks.Add(await RunQueryCheckAsync(connection, "SELECT count(*) FROM pg_database", ct).ConfigureAwait(false));
            foreach (var query in queries) result.Checks.Add(await RunQueryCheckAsync(connection, query, ct).ConfigureAwait(false));
        }
        catch (PgBackupException e)
        {
            result.Error = e.Message;
        }
        finally
        {
            if (started && File.Exists(Path.Combine(scratch, "postmaster.pid")))
            {
                try { PhysicalRestoreJob.Stop(scratch, null); }
                catch (PgBackupException e) { context.Warn($"Could not stop the scratch server in {scratch}: {e.Message}"); }
            }
            foreach (string directory in new[] { scratch, scratchTablespaces })
            {
                // Directory.Delete removes the links in pg_tblspc, not what they point to; the tablespaces' copies go with scratchTablespaces.
                try { if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { context.Warn($"Could not remove the scratch directory {directory}: {e.Message}"); }
            }
        }
    }

    /// <summary>
    /// The test restore recovers only to the backup's consistent point; this check says whether the archive could carry
    /// the backup further, to the newest archived WAL, along the timeline path recovery to latest would follow. Returns
    /// the plan too, for the restore to use (null when it could not be built: the restore then says why).
    /// </summary>
    private static async Task<(PgBackupCheck Check, Wal.WalRecoveryPlan? Plan)> CheckWalToNewestAsync(BackupRepository repository, PgBackup backup, CancellationToken ct)
    {
        var check = new PgBackupCheck { Kind = "WalArchive", Name = "continuous to the newest archived WAL", Expected = "no missing segment" };
        if (backup.StartLsn is null || backup.StopLsn is null || backup.Timeline is null)
        {
            check.Actual = "no WAL range in the manifest";
            return (check, null);
        }
        try
        {
            var plan = await PhysicalRestoreJob.BuildPlanAsync(repository, backup, ct).ConfigureAwait(false);
            ulong newest = Math.Max(plan.NewestSegment ?? plan.StopSegment, plan.StopSegment);
            var gaps = plan.GapsThrough(newest);
            check.Passed = gaps.Count == 0;
            check.Actual = gaps.Count == 0
                ? $"{plan.SegmentName(plan.StartSegment)} through {plan.SegmentName(newest)}"
                : "missing " + string.Join(", ", gaps.Select(g => $"{g} on timeline {g.Timeline}")) + ": recovery from this backup cannot pass it";
            return (check, plan);
        }
        catch (PgBackupException e)
        {
            check.Actual = e.Message;
            return (check, null);
        }
    }

    /// <summary>
    /// pg_verifybackup -n (the backup carries no WAL: -X none) against the restored directory; skipped when not installed.
    /// With tablespaces, tablespace_map is left out of its check: the restore rewrote it to name the scratch copies (and
    /// checked the backup's own one against the backup_manifest before); pg_verifybackup follows the links in pg_tblspc
    /// and checks every tablespace file.
    /// </summary>
    private static PgBackupCheck VerifyBackup(string dataDir, bool tablespaces, OperationContext context)
    {
        var check = new PgBackupCheck { Kind = "VerifyBackup", Name = "pg_verifybackup", Expected = "every file matches backup_manifest" };
        string tool;
        try { tool = PgClientTools.Find("pg_verifybackup"); }
        catch (PgBackupException)
        {
            check.Actual = "pg_verifybackup not installed; skipped";
            check.Passed = true;
            return check;
        }
        try
        {
            string[] args = tablespaces ? ["-n", "-q", "-i", "tablespace_map", dataDir] : ["-n", "-q", dataDir];
            var (_, output) = ProgramRunner.Run(tool, args, TimeSpan.FromHours(2));
            check.Actual = output.Length == 0 ? "verified" : output;
            check.Passed = true;
        }
        catch (PgBackupException e)
        {
            check.Actual = e.Message;
            check.Passed = false;
        }
        context.Log($"pg_verifybackup: {check.Actual}");
        return check;
    }

    /// <summary>A query passes when it runs and its first value is neither NULL, false nor zero.</summary>
    private static async Task<PgBackupCheck> RunQueryCheckAsync(NpgsqlConnection connection, string query, CancellationToken ct)
    {
        var check = new PgBackupCheck { Kind = "Query", Name = query, Expected = "a true, non-zero, non-null first value" };
        try
        {
            await using var cmd = new NpgsqlCommand(query, connection);
            var value = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
            check.Actual = value is null or DBNull ? "NULL" : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture);
            check.Passed = value switch
            {
                null or DBNull => false,
                bool b => b,
                short or int or long or decimal or double or float => Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) != 0,
                _ => true,
            };
        }
        catch (PostgresException e)
        {
            check.Actual = "error: " + e.MessageText;
            check.Passed = false;
        }
        return check;
    }
}
