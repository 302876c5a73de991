namespace PgBackupTools.Core.Monitoring;

/// <summary>
/// Judges a status against its targets. Every verdict comes from something measured and names it in Evidence;
/// where there is nothing to measure the verdict is Missed (no backup, no archived WAL) or Unknown (never proven by
/// a test restore), never Met.
/// </summary>
public static class RecoveryObjectives
{
    /// <param name="cluster">For a database: the status of its stanza's cluster, whose WAL archive and physical backups recover it too.</param>
    public static void Evaluate(PgBackupStatus status, ObjectiveTargets targets, PgBackupStatus? cluster = null)
    {
        status.Objectives.Clear();
        status.Objectives.Add(BackupAge(status, targets.MaxBackupAge));
        status.Objectives.Add(status.Database is not null && CoveredByPitr(cluster) ? RpoByPitr(status, cluster!, targets.Rpo) : Rpo(status, targets.Rpo));
        status.Objectives.Add(Rto(status, targets.Rto));
    }

    private static PgRecoveryObjective New(PgBackupStatus status, string name, TimeSpan target) =>
        new() { Stanza = status.Stanza, Database = status.Database, Objective = name, Target = target };

    private static PgRecoveryObjective Judge(PgRecoveryObjective objective, TimeSpan measured, string evidence, bool failing = false)
    {
        objective.Measured = measured;
        objective.Evidence = evidence;
        objective.Status = !failing && measured <= objective.Target ? PgObjectiveStatus.Met : PgObjectiveStatus.Missed;
        return objective;
    }

    private static PgRecoveryObjective BackupAge(PgBackupStatus status, TimeSpan target)
    {
        var objective = New(status, ObjectiveTargets.BackupAgeName, target);
        if (status.LastBackup is not { } last)
        {
            objective.Status = PgObjectiveStatus.Missed;
            objective.Evidence = NoBackup(status);
            return objective;
        }
        return Judge(objective, last.Age, $"{last.Type.ToString().ToLowerInvariant()} backup {last.BackupId} finished {last.EndTime.UtcDateTime:u}");
    }

    private static PgRecoveryObjective Rpo(PgBackupStatus status, TimeSpan target)
    {
        var objective = New(status, ObjectiveTargets.RpoName, target);
        if (status.Wal is { } wal)
        {
            bool failing = wal.ArchiverFailing == true;
            string failure = failing ? $"; archive_command FAILING since {wal.LastFailedTime?.UtcDateTime:u} ({wal.LastFailedWal})" : "";
            if (wal.NewestRecoveryPoint is { } point)
            {
                string what = point.Source == WalStatusReader.ArchiveSource
                    ? $"newest archived WAL {point.Position} stored {wal.LastArchivedTime?.UtcDateTime:u}{(point.Age == TimeSpan.Zero && wal.ArchiveLagBytes == 0 ? "; nothing written since" : "")}"
                    : $"{point.Source} position {point.Position} at {point.Time.UtcDateTime:u}";
                if (wal.ArchiveLagSegments is > 0) what += $"; {wal.ArchiveLagSegments} complete segment(s) not archived yet";
                return Judge(objective, point.Age, what + failure, failing);
            }
            if (failing)
            {
                objective.Status = PgObjectiveStatus.Missed;
                objective.Evidence = "no WAL archived" + failure;
                return objective;
            }
        }
        // Without a WAL archive the newest backup is the recovery point: everything after it is lost. A database's
        // logical backups never replay WAL, so for them this holds even where the cluster archives WAL.
        if (status.LastBackup is { } last)
            return Judge(objective, last.Age, status.Database is not null
                ? $"newest backup {last.BackupId} ({last.EndTime.UtcDateTime:u}) is the recovery point of a logical restore"
                : $"no archived WAL: the newest backup {last.BackupId} ({last.EndTime.UtcDateTime:u}) is the recovery point");
        objective.Status = PgObjectiveStatus.Missed;
        objective.Evidence = status.Database is null ? $"no archived WAL (Enable-PgWalArchiving) and {NoBackup(status)}" : NoBackup(status);
        return objective;
    }

    /// <summary>
    /// What is missing, by scope: the cluster row of a stanza counts only physical and snapshot backups, so where the
    /// repository holds only dumps of its databases, "no backup in the repository" would be untrue.
    /// </summary>
    private static string NoBackup(PgBackupStatus status) => status.Database is null
        ? $"no physical backup of stanza '{status.Stanza}' (Invoke-PgBackup -Type Physical takes one)"
        : $"no backup of database '{status.Database}' in stanza '{status.Stanza}'";

    /// <summary>A physical backup and archived WAL: every database of the cluster can be recovered to the newest archived point.</summary>
    private static bool CoveredByPitr(PgBackupStatus? cluster) =>
        cluster?.Wal?.NewestRecoveryPoint is not null && cluster.LastBackups.Any(b => b.Type == BackupType.Physical);

    private static PgRecoveryObjective RpoByPitr(PgBackupStatus status, PgBackupStatus cluster, TimeSpan target)
    {
        var byCluster = Rpo(cluster, target);
        var objective = New(status, ObjectiveTargets.RpoName, target);
        objective.Measured = byCluster.Measured;
        objective.Status = byCluster.Status;
        objective.Evidence = $"point-in-time recovery of stanza '{cluster.Stanza}': {byCluster.Evidence}";
        return objective;
    }

    private static PgRecoveryObjective Rto(PgBackupStatus status, TimeSpan target)
    {
        var objective = New(status, ObjectiveTargets.RtoName, target);
        if (status.LastTestRestore is not { } test)
        {
            objective.Status = PgObjectiveStatus.Unknown;
            objective.Evidence = "no test restore recorded: Test-PgBackup -Restore measures it";
            return objective;
        }
        string which = $"test restore of {test.BackupId} on {test.StartTime.UtcDateTime:u}";
        if (!status.LastTestRestoreAuthenticated)
        {
            objective.Measured = test.Duration;
            objective.Status = PgObjectiveStatus.Unknown;
            objective.Evidence = which + " (not authenticated: the repository is encrypted and no passphrase was given)";
            return objective;
        }
        if (!test.Passed)
        {
            objective.Measured = test.Restored ? test.Duration : null;
            objective.Status = PgObjectiveStatus.Missed;
            string why = test.Error ?? string.Join("; ", test.Checks.Where(c => !c.Passed).Take(3).Select(c => $"{c.Kind} {c.Name}: expected {c.Expected}, got {c.Actual}"));
            objective.Evidence = $"{which} FAILED: {why}";
            return objective;
        }
        return Judge(objective, test.Duration, which + $" passed ({test.Checks.Count} check{(test.Checks.Count == 1 ? "" : "s")})");
    }
}
