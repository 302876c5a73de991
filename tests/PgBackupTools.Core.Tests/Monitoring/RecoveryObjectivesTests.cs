using PgBackupTools.Core.Monitoring;

namespace PgBackupTools.Core.Tests.Monitoring;

public sealed class RecoveryObjectivesTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private static PgBackupStatus Database(TimeSpan backupAge) => new()
    {
        Stanza = "main", Database = "app", CheckedAt = Now,
        LastBackups = [new PgLastBackup { Type = BackupType.Logical, BackupId = "L1", EndTime = Now - backupAge, Age = backupAge }],
    };

    private static PgBackupStatus Cluster(bool physical, bool failing) => new()
    {
        Stanza = "main", CheckedAt = Now,
        LastBackups = physical ? [new PgLastBackup { Type = BackupType.Physical, BackupId = "P1", EndTime = Now.AddHours(-3), Age = TimeSpan.FromHours(3) }] : [],
        Wal = new PgWalStatus
        {
            Stanza = "main", LastArchivedSegment = "000000010000000000000009", LastArchivedTime = Now.AddSeconds(-40), LastArchivedAge = TimeSpan.FromSeconds(40),
            ArchiverFailing = failing, LastFailedTime = failing ? Now : null,
            RecoveryPoints = [new PgWalRecoveryPoint { Source = "archive", Position = "000000010000000000000009", Time = Now.AddSeconds(-40), Age = TimeSpan.FromSeconds(40) }],
        },
    };

    [Fact]
    public void A_database_of_a_cluster_with_a_base_backup_and_archived_wal_has_the_clusters_rpo()
    {
        var db = Database(TimeSpan.FromHours(7));
        RecoveryObjectives.Evaluate(db, new ObjectiveTargets(), Cluster(physical: true, failing: false));
        var rpo = db.Objectives.Single(o => o.Objective == ObjectiveTargets.RpoName);
        Assert.Equal(PgObjectiveStatus.Met, rpo.Status);
        Assert.Equal(TimeSpan.FromSeconds(40), rpo.Measured);
        Assert.StartsWith("point-in-time recovery of stanza 'main': newest archived WAL 000000010000000000000009", rpo.Evidence);
    }

    [Fact]
    public void A_failing_archiver_misses_the_rpo_of_every_database_it_covers()
    {
        var db = Database(TimeSpan.FromHours(7));
        RecoveryObjectives.Evaluate(db, new ObjectiveTargets(), Cluster(physical: true, failing: true));
        var rpo = db.Objectives.Single(o => o.Objective == ObjectiveTargets.RpoName);
        Assert.Equal(PgObjectiveStatus.Missed, rpo.Status);
        Assert.Contains("archive_command FAILING", rpo.Evidence);
    }

    [Fact]
    public void Without_a_base_backup_archived_wal_recovers_nothing_so_the_dump_is_the_recovery_point()
    {
        var db = Database(TimeSpan.FromHours(7));
        RecoveryObjectives.Evaluate(db, new ObjectiveTargets(), Cluster(physical: false, failing: false));
        var rpo = db.Objectives.Single(o => o.Objective == ObjectiveTargets.RpoName);
        Assert.Equal(PgObjectiveStatus.Missed, rpo.Status);
        Assert.Equal(TimeSpan.FromHours(7), rpo.Measured);
        Assert.Contains("recovery point of a logical restore", rpo.Evidence);
    }

    [Fact]
    public void No_test_restore_is_unknown_and_never_met()
    {
        var db = Database(TimeSpan.FromMinutes(1));
        RecoveryObjectives.Evaluate(db, new ObjectiveTargets());
        Assert.Equal(PgObjectiveStatus.Unknown, db.Objectives.Single(o => o.Objective == ObjectiveTargets.RtoName).Status);
        Assert.False(db.Healthy);
    }

    [Fact]
    public void A_stanza_without_a_physical_backup_says_so_rather_than_that_the_repository_is_empty()
    {
        // Get-PgBackupStatus with a server shows the cluster row of its stanza even where only dumps were taken.
        var cluster = new PgBackupStatus { Stanza = "main", CheckedAt = Now };
        RecoveryObjectives.Evaluate(cluster, new ObjectiveTargets());
        var age = cluster.Objectives.Single(o => o.Objective == ObjectiveTargets.BackupAgeName);
        var rpo = cluster.Objectives.Single(o => o.Objective == ObjectiveTargets.RpoName);
        Assert.Equal(PgObjectiveStatus.Missed, age.Status);
        Assert.Equal("no physical backup of stanza 'main' (Invoke-PgBackup -Type Physical takes one)", age.Evidence);
        Assert.Equal(PgObjectiveStatus.Missed, rpo.Status);
        Assert.Equal("no archived WAL (Enable-PgWalArchiving) and no physical backup of stanza 'main' (Invoke-PgBackup -Type Physical takes one)", rpo.Evidence);
    }
}
