@{
    Synopsis    = "Tells, with evidence, whether backups work: last backups, last test restore, WAL archive, and the recovery objectives."
    Description = @'
Reads the repository and writes one PgBackupStatus per stanza for the cluster (physical backups and the WAL archive;
Database is empty) and one per database with logical backups. Each holds the newest backup of each kind (time, age,
size, duration), the newest recorded test restore (Test-PgBackup -Restore records its result and measured restore
time in the repository), the WAL archive (newest archived segment and its age), and the verdict on three objectives:
backup age (at most -MaxBackupAge), RPO (the age of the newest archived WAL; without a WAL archive, of the newest
backup) and RTO (the last measured test restore). An objective without evidence is never Met: no backup or no
archived WAL is Missed, no test restore is Unknown. Healthy is true only when all three are Met.

With any connection parameter it also asks the server: pg_stat_archiver (failures, whether archive_command is failing
right now) and the archive lag (current WAL position against the newest archived segment). A failing archive_command
makes the RPO Missed at once, however young the last archived segment is.

-Report writes the recovery-objectives report instead: one PgRecoveryObjective per objective, shown as the table
Objective | Target | Measured | Evidence | Status, grouped by stanza/database.
'@
    Parameters  = @{
        Repository   = 'The repository: a directory, s3://bucket/prefix or az://account/container/prefix, or a PgRepository from New-PgRepository.'
        Stanza       = 'Only this stanza. Default: every stanza in the repository.'
        Database     = "Only this database's logical backups (and no cluster row)."
        RpoTarget    = 'Recovery point objective: how old the newest archived WAL may be. Takes 5min, 90s, 1h30m, 00:05:00 or a number of seconds. Default: 5min.'
        RtoTarget    = 'Recovery time objective: how long the last measured test restore may have taken. Default: 1h.'
        MaxBackupAge = 'How old the newest backup may be. Default: 25h (a nightly backup with an hour of slack).'
        Report       = 'Write the recovery-objectives report (Objective, Target, Measured, Evidence, Status) instead of status objects.'
        HostName     = 'Server host name, IP address or Unix socket directory (PGHOST). Giving any connection parameter reads pg_stat_archiver and the archive lag.'
    }
    Examples    = @(
        @{
            Code    = 'Get-PgBackupStatus -Repository /srv/pgbackup'
            Remarks = 'One line per stanza and database: the last backup and its age, the last test restore, the WAL archive, and whether all objectives hold.'
        }
        @{
            Code    = 'Get-PgBackupStatus -Repository /srv/pgbackup -HostName db1 -Username postgres -RpoTarget 5min -RtoTarget 1h -Report'
            Remarks = 'The recovery-objectives report from measured data, with the archiver of db1 taken into account.'
        }
        @{
            Code    = 'Get-PgBackupStatus -Repository /srv/pgbackup | Where-Object { -not $_.Healthy } | Format-List'
            Remarks = 'Every stanza or database that misses an objective, with the evidence.'
        }
    )
}
