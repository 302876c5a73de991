@{
    Synopsis    = 'Backs up PostgreSQL databases into a repository and writes one PgBackup per database.'
    Description = @'
Runs pg_dump inside a snapshot that PgBackupTools exports from its own REPEATABLE READ transaction and streams the
dump straight into the repository: compressed on both cores, with the SHA-256 of the raw and the stored bytes
computed on the way. In the same snapshot it counts every table's rows, so the manifest records exactly what the
dump holds and Test-PgBackup -Restore can compare it. The manifest is written last: a backup that is interrupted
(Ctrl+C, a killed process, a full disk) leaves no manifest and is never listed or restored.

Plain + Gzip is the default: the stored file is a database.sql.gz that 'gunzip -c database.sql.gz | psql' restores
by hand. Custom dumps are stored as pg_dump wrote them (database.dump, for pg_restore); Directory dumps run
pg_dump -j in parallel. Passwords reach pg_dump only through a private passfile, never through its arguments.
'@
    Parameters  = @{
        Repository       = 'The repository: a directory path (created, with its repository.json, if missing), s3://bucket/prefix, az://account/container/prefix, or a PgRepository from New-PgRepository. The bucket or container must exist. -Format Directory needs a directory path.'
        Database         = 'The databases to back up. Accepts names from the pipeline, and objects with a Name, DatabaseName or datname property.'
        Type             = 'Physical: instead of a pg_dump of each -Database (the default, without -Type), a base backup of the whole cluster into base.tar.zst (a tar with a PostgreSQL backup_manifest inside; see -Method), the base for point-in-time recovery. A physical backup is reported only once the WAL through its stop LSN is in the repository''s WAL archive, so the cluster must archive into it (Enable-PgWalArchiving). Extra tablespaces are carried by -Method FileCopy (in the same tar, listed under Tablespaces; Restore-PgDatabase -TablespaceMapping relocates them); -Method BaseBackup refuses such a cluster. Configuration files the server reads from outside its data directory (Debian and Ubuntu: /etc/postgresql/<version>/<cluster>) are stored too, as config/<path> (never keys); one that cannot be read (a remote role without pg_read_server_files, a removed file) is a warning, not a failure.'
        Method           = 'With -Type Physical: how the cluster is read. FileCopy reads the data directory itself between pg_backup_start and pg_backup_stop, on all cores, when run on the server''s host as a user that can read it (root or the server''s owner); about half the CPU of pg_basebackup. BaseBackup streams pg_basebackup -Ft -X none from any host. Auto (the default) copies where it can (on the server''s host, from a primary, as a user that can read the data directory; both methods verify page checksums while they read) and says which it chose with -Verbose. Only FileCopy carries tablespaces. Both write the same format; Restore-PgDatabase restores either.'
        ArchiveTimeoutSeconds = 'With -Type Physical: how long to wait for the backup''s last WAL segment to reach the repository''s WAL archive before failing (default 120). A server that archives nothing (archive_mode off or awaiting a restart, or no archive_command) and has no WAL receiver is refused at once, before the repository is created.'
        Format           = 'Plain (SQL, compressed by PgBackupTools; the default), Custom (pg_dump -Fc, compressed by pg_dump) or Directory (pg_dump -Fd, parallel with -Jobs).'
        Compression      = 'Gzip (the default for logical backups; output gunzip reads; Zstd is the default for -Type Physical), Zstd, Lz4 or None. For Custom and Directory dumps pg_dump compresses, and needs version 16 for Zstd and Lz4.'
        CompressionLevel = "The codec's level (gzip 1-9, zstd 1-22). The default favours speed with a sane ratio."
        Jobs             = 'Parallel pg_dump workers for -Format Directory.'
        Stanza           = 'The group of backups in the repository, usually one per cluster (default: main).'
        RetentionDays    = 'After the backups succeeded, apply a retention policy to the databases just backed up: remove their backups older than this many days, keeping the newest one before the window (see Remove-PgBackup). After a physical backup, archived WAL older than the oldest kept physical backup of the stanza is pruned too.'
        KeepLast         = 'After the backups succeeded, keep at least this many newest backups of each database (or, with -Type Physical, of the stanza) just backed up; after a physical backup the WAL older than the oldest kept one is pruned.'
        WhatIf           = 'Shows which databases would be backed up and which old backups the retention policy would remove, and does nothing.'
        Confirm          = 'Asks before each backup and each removal.'
        Label            = 'A hashtable of labels stored in the manifest, for example @{ reason = "before upgrade" }.'
    }
    Examples    = @(
        @{
            Code    = "Enable-PgWalArchiving -Repository /srv/pgbackup -HostName db1 -Username postgres; Invoke-PgBackup -Repository /srv/pgbackup -Type Physical -HostName db1 -Username postgres"
            Remarks = 'Archives WAL into the repository, then takes a physical base backup that Restore-PgDatabase -DataDirectory restores to any point in time after it.'
        }
        @{
            Code    = "Invoke-PgBackup -Repository /srv/pgbackup -Database app -HostName db1 -Username backup"
            Remarks = 'Backs up the database app from db1 as database.sql.gz into /srv/pgbackup; the password comes from ~/.pgpass or PGPASSWORD.'
        }
        @{
            Code    = "'app', 'billing' | Invoke-PgBackup -Repository /srv/pgbackup -Format Custom | Test-PgBackup -Restore"
            Remarks = 'Backs up two databases as custom dumps and proves each one at once by restoring it into a scratch database and comparing every row count.'
        }
        @{
            Code    = "Invoke-PgBackup -Repository /srv/pgbackup -Database app -RetentionDays 30 -KeepLast 7 | Test-PgBackup -Restore"
            Remarks = 'The whole nightly job in one line: back up, remove what a 30-day window with at least seven backups does not keep, and prove the new backup.'
        }
        @{
            Code    = "Invoke-PgBackup -Repository /srv/pgbackup -Type Physical -KeepLast 2 -HostName db1 -Username postgres -Verbose"
            Remarks = 'A nightly physical backup that keeps the two newest physical backups of the stanza and prunes the archived WAL older than the start of the oldest of them; -Verbose says from which segment the WAL is kept.'
        }
        @{
            Code    = "Invoke-PgBackup -Repository D:\pgbackup -Database app -Compression Zstd -Credential (Get-Credential backup) -Label @{ ticket = 'CHG-1234' }"
            Remarks = 'A zstd-compressed plain dump with a password typed at the prompt and a label kept in the manifest.'
        }
    )
}
