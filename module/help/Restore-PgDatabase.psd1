@{
    Synopsis    = 'Restores a logical backup into a database, checking every checksum, and writes a PgRestoreResult.'
    Description = @'
Restores with the stock psql (plain dumps) or pg_restore (custom and directory dumps) into a new staging database,
verifying the SHA-256 of every stored byte. Only when the restore succeeded and every checksum matched does the
staging database take the target's name; an existing target (with -Force) is renamed aside first and dropped only
after the new one is in place. A damaged backup or a failed restore leaves the target exactly as it was.

The staging database is named pgbt_restore_<12 hex digits> and marked (COMMENT ON DATABASE) with the host, process id
and process start time. If the process is killed, the next Restore-PgDatabase or Test-PgBackup -Restore against the
server drops such leftovers once their process is provably gone and nobody is connected, with a warning naming each;
one caught between the two renames of a -Force restore is reported with what to do, never dropped. Remove-PgScratchDatabase
does the same on request. Target names of that form are refused.

Without connection parameters (and without PGHOST) the restore goes to the server the backup was taken from.

It asks before it runs (ConfirmImpact High), also for a new database or an empty directory. Where nobody can answer
(cron, a runbook, pwsh -NonInteractive, which says "Read and Prompt functionality is not available"), give
-Confirm:$false, or -Force where replacing is meant.

A physical backup (Invoke-PgBackup -Type Physical) is restored with -DataDirectory: the base tar is streamed out of the
repository, checked against its SHA-256 while it is extracted, and recovery.signal plus restore_command (pgbt-wal get
from the same repository) and the recovery target are written into postgresql.auto.conf. Without a target, recovery
replays all archived WAL, following later timelines (recovery_target_timeline = latest). A non-empty directory is
refused; -Force moves it aside (renamed, never deleted). With -Start the server is started (as -Owner when running as
root) and the result tells where recovery ended. Tablespaces go back to their original locations unless
-TablespaceMapping names new directories; a non-empty one is refused like the data directory.

A server that keeps its configuration outside the data directory (Debian and Ubuntu: /etc/postgresql/<version>/<cluster>)
has it carried in its physical backups; the restore writes it into the data directory as postgresql.conf, pg_hba.conf,
pg_ident.conf and conf.d, with data_directory, hba_file, ident_file and external_pid_file commented out (they name the
original cluster's files) and include paths pointed at the copies, so -Start into a new directory needs no step by
hand. ConfigurationFiles in the result lists them. Debian's pg_ctlcluster reads /etc/postgresql/... whatever the data
directory holds. A backup taken before configuration was carried cannot start by itself: -Start then says what to copy.

Before anything is written or moved, the WAL archive is checked along the path recovery will take, from the backup's
first segment to the target (for "latest": the newest archived segment, on the newest timeline): PostgreSQL ends
recovery at the first segment it cannot fetch and promotes there, so a missing segment would otherwise make the
restore silently stop short. A restore past a missing range is refused and the error names it; to recover as far as
the archive goes, give a -TargetLsn or -TargetTime before the gap. With -Start, a server that recovered less than the
archive held (a segment that could not be fetched) is an error, not a result. WalThrough in the result names the last
segment the restore needed.

A Snapshot backup (New-PgVolumeSnapshot -Repository) is restored with -DataDirectory pointing at the data directory on
the volume restored from its snapshots (Restore-PgVolumeSnapshot) and mounted: the directory must be the backed-up
cluster (its system identifier is checked); the lock files the live server left in the snapshot are removed, the
backup_label (and tablespace_map) pg_backup_stop returned is written from the manifest, and recovery is configured
exactly as for a physical backup. An existing backup_label is refused unless -Force.
'@
    Parameters  = @{
        Backup           = 'The backup to restore, usually from Get-PgBackup or Invoke-PgBackup through the pipeline. For a physical restore it may be left out in favour of -Repository.'
        TargetDatabase   = "The name of the restored database (default: the backup's own database name, which then needs -Force if it exists)."
        Jobs             = 'Parallel pg_restore jobs for custom and directory dumps.'
        Force            = 'Logical: replace an existing database of that name. Physical: move a non-empty -DataDirectory (and a non-empty tablespace directory) aside to <path>.pgbt-old-<timestamp> (never deleted). Either way, do not ask for confirmation; -WhatIf still wins.'
        Repository       = 'Physical, without -Backup: the repository (path, s3://, az:// or a PgRepository) to take the newest physical backup from that ends before the target (before -TargetTime by its end time, before -TargetLsn by its stop LSN; otherwise the newest).'
        Stanza           = 'Physical, with -Repository: the stanza to choose the backup from (default main).'
        TablespaceMapping = "Physical: restores tablespaces elsewhere than where they were, as @{ '<original location>' = '<new directory>' } (the keys are the locations Get-PgBackup lists under Tablespaces, as pg_basebackup's -T OLDDIR=NEWDIR). The data directory's pg_tblspc/<oid> becomes a link to the new directory, the files are written and fsynced there, and tablespace_map names it. Tablespaces not named go back to their original location. A new directory must be empty or new (-Force moves a non-empty one aside, never deletes it; a non-empty original location only when the data directory being replaced links to it, since otherwise it may be the running source's); as root it is given to -Owner like the data directory. A key that is not a tablespace's location of the backup is refused before anything is written."
        DataDirectory    = 'Physical backups: the data directory to restore into; new or empty (see -Force). Snapshot backups: the data directory on the mounted volume restored from the snapshots.'
        TargetTime       = 'Physical: recover up to and including the last transaction committed at or before this time (recovery_target_time).'
        TargetLsn        = 'Physical: recover up to this WAL position, e.g. 0/3000060 (recovery_target_lsn).'
        TargetXid        = 'Physical: recover up to and including this transaction id (recovery_target_xid).'
        TargetName       = 'Physical: recover up to the restore point of this name made with pg_create_restore_point() (recovery_target_name).'
        Immediate        = 'Physical: stop as soon as the backup is consistent (recovery_target = immediate).'
        TargetAction     = 'Physical: what the server does at the target: Promote (the default), Pause or Shutdown (recovery_target_action). Without a target, recovery replays all archived WAL and promotes.'
        ArchiveMode      = "Physical: Preserve (the default) keeps the backup's archive_command, so a restored server that promotes archives its new timeline into the same stanza, as a replacement for production should; Off writes archive_mode = off, for drills and copies that must not add a timeline to production's archive (pgBackRest's --archive-mode)."
        Start            = 'Physical: start the restored server with pg_ctl and wait until recovery ends; the result carries the reached LSN and time and the new timeline. A backup of a Debian/Ubuntu cluster starts on the configuration it carries from /etc/postgresql (give -Port when the original server still runs).'
        Owner            = 'Physical, when running as root: the OS user that gets the restored directory and runs the server (default postgres). Otherwise the directory belongs to, and the server runs as, the current user.'
        EntryPointPath   = "Physical: the pgbt-wal executable that restore_command runs (default: the module's bin/pgbt-wal)."
        HostName         = 'Server host name, IP address or Unix socket directory (alias -Host; default: PGHOST, then the server the backup came from).'
        Port             = 'Logical: server port (default: PGPORT, then the backup''s server port). Physical: the port the restored server listens on (written into its postgresql.auto.conf).'
        Username         = 'Role to connect as (alias -User; default: PGUSER, then the operating-system user: a piped backup brings its server but not the role that took it).'
        Credential       = 'Role and password as a PSCredential.'
        ConnectionString = 'A libpq, URI or Npgsql connection string for the server to restore into.'
        WhatIf           = 'Shows what would be restored where, and restores nothing.'
        Confirm          = 'Asks before restoring.'
    }
    Examples    = @(
        @{
            Code    = "Get-PgBackup -Repository /srv/pgbackup -Type Physical -Latest | Restore-PgDatabase -DataDirectory /srv/pg-pitr -TargetTime '2026-11-24 09:59:00Z' -Port 5499 -Start"
            Remarks = 'Point-in-time recovery into a new directory: the newest base backup, WAL replayed up to 09:59 UTC, the server started on port 5499 and promoted.'
        }
        @{
            Code    = "Restore-PgDatabase -Repository /srv/pgbackup -DataDirectory /tmp/pitr-drill -TargetLsn 0/5A000000 -Port 5498 -Start -ArchiveMode Off"
            Remarks = 'A recovery drill beside production: the newest physical backup before that LSN, replayed and started on port 5498, without archiving its new timeline into the stanza that production archives into.'
        }
        @{
            Code    = "Get-PgBackup -Repository /srv/pgbackup -Type Physical -Latest | Restore-PgDatabase -DataDirectory /srv/pg-copy -TablespaceMapping @{ '/mnt/fast/pg_ts' = '/srv/pg-copy-fast' } -Port 5497 -Start -ArchiveMode Off"
            Remarks = 'A copy of a cluster with a tablespace on a fast disk, on the same host as the original: the tablespace that was in /mnt/fast/pg_ts (the live server''s) is restored into /srv/pg-copy-fast instead. Get-PgBackup | Format-List shows a backup''s tablespaces and their original locations.'
        }
        @{
            Code    = 'Get-PgBackup -Repository /srv/pgbackup -Database app -Latest | Restore-PgDatabase -TargetDatabase app_restored -Force'
            Remarks = 'Restores the newest backup of app into a new database app_restored on the server it came from.'
        }
        @{
            Code    = "Get-PgBackup -Repository /srv/pgbackup -Id 20261124T020000Z-3fa2c1 | Restore-PgDatabase -Force -Jobs 4 -HostName db2 -Credential `$cred"
            Remarks = 'Replaces the database app on db2 with that backup, restoring a custom dump with four pg_restore jobs.'
        }
        @{
            Code    = 'Get-PgBackup -Repository /srv/pgbackup -Latest | Restore-PgDatabase -WhatIf'
            Remarks = 'Shows which database each newest backup would replace, without touching anything.'
        }
    )
}
