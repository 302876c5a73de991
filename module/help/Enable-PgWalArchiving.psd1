@{
    Synopsis    = "Turns on continuous WAL archiving into a repository (ALTER SYSTEM) and says whether a restart is needed."
    Description = @'
Sets, with ALTER SYSTEM (postgresql.auto.conf) and pg_reload_conf(): wal_level to replica (unless it is already
replica or logical), archive_mode to on (unless on or always), archive_command to the module's pgbt-wal entry point
pushing into the repository, and archive_timeout. wal_level and archive_mode take effect only after a restart:
RestartRequired says so, and the cmdlet warns. The repository is created if it does not exist; the server's OS user
(postgres) must be able to write it. The result also carries the matching restore_command for recovery.
Supports -WhatIf and -Confirm.
'@
    Parameters  = @{
        Repository       = 'The repository directory, as the server sees it. Also bound from the pipeline by property name.'
        Stanza           = 'The stanza to archive into (one per cluster). Default: main.'
        ArchiveTimeout   = 'Seconds after which a partly filled segment is archived anyway: the most WAL a lost server can take with it. Default 60.'
        EntryPointPath   = 'The pgbt-wal executable archive_command runs. Default: bin/pgbt-wal in this module''s folder.'
        HostName         = 'Server host name, IP address or Unix socket directory (PGHOST).'
        Port             = 'Server port (PGPORT, default 5432).'
        Username         = 'Role to connect as (PGUSER); a superuser, for ALTER SYSTEM.'
        Credential       = 'Role and password.'
        ConnectionString = 'A libpq, URI or Npgsql connection string.'
        WhatIf      = 'Shows the ALTER SYSTEM statements it would run, and changes nothing.'
        Confirm     = 'Asks before changing the server''s configuration.'
    }
    Examples    = @(
        @{
            Code    = 'Enable-PgWalArchiving -Repository /srv/pgbackup -HostName localhost -Username postgres -WhatIf'
            Remarks = 'Shows the ALTER SYSTEM statements it would run, changing nothing.'
        }
        @{
            Code    = "Enable-PgWalArchiving -Repository /srv/pgbackup -Username postgres | Select-Object -ExpandProperty Settings"
            Remarks = 'Turns archiving on and lists each setting before and after.'
        }
    )
}
