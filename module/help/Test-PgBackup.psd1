@{
    Synopsis    = 'Proves a backup: checks every stored checksum and, with -Restore, restores it into a scratch database and compares the data.'
    Description = @'
Without -Restore it reads every stored file of the backup and compares its SHA-256 with the manifest (a Snapshot
backup stores no files: its provider is asked that every snapshot still exists, is complete and is of the recorded
volume; -Restore is refused for it, see Restore-PgVolumeSnapshot). With -Restore
it also restores the backup into a scratch database, compares every table's row count with the count recorded at
backup time, runs the -Query checks, and drops the scratch database (pgbt_test_<12 hex digits>; one a killed test left
behind is dropped by the next run, see Remove-PgScratchDatabase). It writes one PgBackupTestResult per backup
(Passed, every check with expected and actual values, and Duration, the restore's wall time: a measured RTO). A
backup that fails also writes an error, so scheduled jobs fail loudly.

A physical backup is restored into a scratch data directory and recovered to its consistent point. The scratch
server listens on no TCP port, only on a socket in its own directory with a pg_hba.conf of its own, so the backed-up
server's passwords are not needed and no other user of the host can reach the copy; a backup without postgresql.conf
(Debian and Ubuntu keep it in /etc/postgresql) gets an empty one with the limits pg_control records. Its
WalArchive check says whether the WAL archive is continuous from the backup to the newest archived segment
(along the timelines recovery to latest would follow), and names any missing range it could not pass.
'@
    Parameters  = @{
        Backup           = 'The backup to test, usually from Get-PgBackup or Invoke-PgBackup through the pipeline.'
        Restore          = 'Restore into a scratch database, compare row counts with the backup''s, run -Query, then drop it.'
        Query            = 'SQL checks run in the restored database; each passes when its first value is true, non-zero and not NULL.'
        HostName         = 'Server to restore into (alias -Host; default: PGHOST, then the server the backup came from).'
        Port             = 'Server port (default: PGPORT, then the port of the server the backup came from).'
        Username         = 'Role to connect as (alias -User; default: PGUSER, then the operating-system user: the role that took the backup is not recorded, so a piped backup brings its server but not its role). It needs CREATEDB.'
        Credential       = 'Role and password as a PSCredential.'
        ConnectionString = 'A libpq, URI or Npgsql connection string for the server to restore into.'
    }
    Examples    = @(
        @{
            Code    = 'Get-PgBackup -Repository /srv/pgbackup -Latest | Test-PgBackup -Restore'
            Remarks = 'Restores the newest backup of every database into a scratch database and checks every table''s row count.'
        }
        @{
            Code    = "Invoke-PgBackup -Repository /srv/pgbackup -Database app | Test-PgBackup -Restore -Query 'SELECT count(*) > 0 FROM audit_events', 'SELECT max(occurred_at) > now() - interval ''1 day'' FROM audit_events'"
            Remarks = 'Backs up and proves the backup at once, with two extra data checks.'
        }
        @{
            Code    = 'Get-PgBackup -Repository /srv/pgbackup | Test-PgBackup | Where-Object { -not $_.Passed }'
            Remarks = 'Verifies the checksums of every backup and lists the damaged ones.'
        }
    )
}
