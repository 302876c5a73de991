@{
    Synopsis    = 'Restores a logical backup into a database, checking every checksum, and writes a PgRestoreResult.'
    Description = @'
Restores with the stock psql (plain dumps) or pg_restore (custom and directory dumps) into a new staging database,
verifying the SHA-256 of every stored byte. Only when the restore succeeded and every checksum matched does the
staging database take the target's name; an existing target (with -Force) is renamed aside first and dropped only
after the new one is in place. A damaged backup or a failed restore leaves the target exactly as it was.

Without connection parameters (and without PGHOST) the restore goes to the server the backup was taken from.
'@
    Parameters  = @{
        Backup           = 'The backup to restore, usually from Get-PgBackup or Invoke-PgBackup through the pipeline.'
        TargetDatabase   = "The name of the restored database (default: the backup's own database name, which then needs -Force if it exists)."
        Jobs             = 'Parallel pg_restore jobs for custom and directory dumps.'
        Force            = 'Replace an existing database of that name, and do not ask for confirmation. -WhatIf still wins.'
        HostName         = 'Server host name, IP address or Unix socket directory (alias -Host; default: PGHOST, then the server the backup came from).'
        Port             = 'Server port (default: PGPORT, then the backup''s server port).'
        Username         = 'Role to connect as (alias -User; default: PGUSER, then the operating-system user).'
        Credential       = 'Role and password as a PSCredential.'
        ConnectionString = 'A libpq, URI or Npgsql connection string for the server to restore into.'
        WhatIf           = 'Shows what would be restored where, and restores nothing.'
        Confirm          = 'Asks before restoring.'
    }
    Examples    = @(
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
