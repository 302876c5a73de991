using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;

namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// Makes a data directory restored from a Snapshot backup's volumes (created by Restore-PgVolumeSnapshot and mounted)
/// recoverable: checks it is the backed-up cluster, removes the lock files the live server left in the snapshot, writes
/// the backup_label (and tablespace_map) pg_backup_stop returned, and configures recovery exactly as a physical
/// restore does (restore_command through pgbt-wal, the PITR target). Without backup_label, PostgreSQL would start from
/// the snapshot's last checkpoint and could miss WAL: the label is what makes the snapshot a backup.
/// </summary>
public static class SnapshotRestoreJob
{
    /// <summary>Files a running server leaves in its data directory that must not be in a restored one (as pg_basebackup leaves them out).</summary>
    private static readonly string[] RunTimeFiles = ["postmaster.pid", "postmaster.opts"];

    public static async Task<PgRestoreResult> RunAsync(BackupRepository repository, PgBackup backup, PhysicalRestoreOptions options, OperationContext context)
    {
        if (backup.Type != BackupType.Snapshot)
            throw new PgBackupException(FailureKind.InvalidArgument, $"Backup {backup.Id} is a {backup.Type} backup, not a Snapshot backup.", backup.Id);
        if (options.TargetCount > 1)
            throw new PgBackupException(FailureKind.InvalidArgument, "Give at most one recovery target: -TargetTime, -TargetLsn, -TargetXid, -TargetName or -Immediate.", backup.Id);
        backup = await repository.GetAuthenticatedBackupAsync(backup, context.CancellationToken).ConfigureAwait(false);
        if (string.IsNullOrEmpty(backup.BackupLabelFile))
            throw new PgBackupException(FailureKind.InvalidData, $"The manifest of snapshot backup {backup.Id} has no backup_label; it cannot be recovered consistently.", backup.Id);

        var started = DateTimeOffset.UtcNow;
        string dataDir = Path.GetFullPath(options.DataDirectory);
        string control = Path.Combine(dataDir, ControlFile.RelativePath);
        if (!File.Exists(Path.Combine(dataDir, "PG_VERSION")) || !File.Exists(control))
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"{dataDir} is not a PostgreSQL data directory (no PG_VERSION or global/pg_control). Mount the volume restored from snapshot backup {backup.Id} (Restore-PgVolumeSnapshot) and give the data directory on it.", dataDir);
        if (backup.SystemIdentifier is not null)
        {
            string id = ControlFile.ReadSystemIdentifier(dataDir);
            if (id != backup.SystemIdentifier)
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"{dataDir} belongs to the cluster with system identifier {id}, but snapshot backup {backup.Id} was taken of {backup.SystemIdentifier}. Mount the volumes restored from this backup's snapshots.", dataDir);
        }
        string pid = Path.Combine(dataDir, "postmaster.pid");
        if (File.Exists(pid) && IsServerRunning(pid))
            throw new PgBackupException(FailureKind.InvalidArgument, $"A server is running on {dataDir} (postmaster.pid names a live process). Stop it first.", dataDir);
        string label = Path.Combine(dataDir, "backup_label");
        if (File.Exists(label) && !options.Force)
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"{dataDir} already holds a backup_label: it was prepared for recovery before. Give -Force to replace it with the label of backup {backup.Id}.", dataDir);

        // The same check as a physical restore, before anything is written: a gap in the archive would end recovery early.
        var (walThrough, mustReach) = await PhysicalRestoreJob.CheckArchiveAsync(repository, backup, options, context).ConfigureAwait(false);

        foreach (var f in RunTimeFiles) File.Delete(Path.Combine(dataDir, f));
        File.Delete(Path.Combine(dataDir, "recovery.signal"));
        File.Delete(Path.Combine(dataDir, "standby.signal"));
        await File.WriteAllTextAsync(label, backup.BackupLabelFile, context.CancellationToken).ConfigureAwait(false);
        string map = Path.Combine(dataDir, "tablespace_map");
        if (!string.IsNullOrEmpty(backup.TablespaceMapFile)) await File.WriteAllTextAsync(map, backup.TablespaceMapFile, context.CancellationToken).ConfigureAwait(false);
        else File.Delete(map);
        context.Log($"Wrote backup_label of backup {backup.Id} (WAL from {backup.StartLsn}, consistent at {backup.StopLsn}, timeline {backup.Timeline}) into {dataDir}.");

        PhysicalRestoreJob.WriteRecoveryConfiguration(repository, backup, dataDir, options);
        PhysicalRestoreJob.PrepareOwnership(dataDir, options.Owner);
        var result = new PgRestoreResult
        {
            BackupId = backup.Id, Type = BackupType.Snapshot, Server = backup.Server, StartTime = started, DataDirectory = dataDir,
            Target = PhysicalRestoreJob.DescribeTarget(options), WalThrough = walThrough,
        };
        if (options.Start)
            await PhysicalRestoreJob.StartAndWaitAsync(repository, dataDir, options, result, context, mustReach).ConfigureAwait(false);
        result.Duration = DateTimeOffset.UtcNow - started;
        return result;
    }

    private static bool IsServerRunning(string pidFile)
    {
        try
        {
            // A snapshot of a live cluster carries the source's postmaster.pid: only a process running on *this* directory counts.
            var lines = File.ReadLines(pidFile).Take(2).ToList();
            if (lines.Count < 2 || !int.TryParse(lines[0].Trim(), out int pid) || pid <= 0) return false;
            if (Path.GetFullPath(lines[1].Trim()) != Path.GetDirectoryName(Path.GetFullPath(pidFile))) return false;
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited && p.ProcessName.StartsWith("postgres", StringComparison.Ordinal);
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
        catch (IOException) { return false; }
    }
}
