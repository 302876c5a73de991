@{
    Synopsis    = "Turns on continuous WAL archiving into a repository (ALTER SYSTEM) and says whether a restart is needed."
    Description = @'
Sets, with ALTER SYSTEM (postgresql.auto.conf) and pg_reload_conf(): wal_level to replica (unless it is already
replica or logical), archive_mode to on (unless on or always), archive_command to the module's pgbt-wal entry point
pushing into the repository, and archive_timeout. wal_level and archive_mode take effect only after a restart:
RestartRequired says so, and the cmdlet warns. The repository is created if it does not exist. PostgreSQL runs
archive_command as its own OS user, which must be able to write the repository. For a local repository of a server
whose data directory is on this host (Linux), that user is the data directory's owner, and the cmdlet checks:
run as root, it gives a repository it has just created to that user (chown -R; -Verbose says so); a repository that
already existed and that user cannot write (the root, wal/<stanza> or a timeline directory in it) is refused before anything changes, with the
chown that fixes it; so is a repository behind a parent directory that user may not enter (root's umask 077). A remote server, a cloud repository or Windows is not checked. The result also carries the
matching restore_command for recovery.
An encrypted repository needs -PassphraseFile: archive_command and restore_command then carry
--passphrase-file '<path>' (the path, never the passphrase). The file must be owned by the OS user that runs
PostgreSQL and readable by it only (chmod 600). -Passphrase and -PassphraseVariable are refused: PostgreSQL runs
pgbt-wal later, as its own user and in its own environment, where neither reaches. To use the environment variable
PGBACKUPTOOLS_PASSPHRASE in the server's environment instead, set archive_command by hand (docs/wal-archiving.md).
Supports -WhatIf and -Confirm.
'@
    Parameters  = @{
        Repository       = 'The repository directory, as the server sees it. Also bound from the pipeline by property name.'
        Stanza           = 'The stanza to archive into (one per cluster). Default: main.'
        ArchiveTimeout   = 'Seconds after which a partly filled segment is archived anyway: the most WAL a lost server can take with it. Default 60.'
        PassphraseFile   = 'For an encrypted repository: the key file archive_command reads (--passphrase-file). Owned by the OS user that runs PostgreSQL, chmod 600. Checked against the repository before anything changes; a new repository is created encrypted with it.'
        Passphrase         = 'Refused: archive_command cannot see a SecureString of this session. Use -PassphraseFile.'
        PassphraseVariable = 'Refused: archive_command runs in the server''s environment, not this shell''s. Use -PassphraseFile.'
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
        @{
            Code    = "'the passphrase' | sudo install -o postgres -m 600 /dev/stdin /etc/pgbackup/wal.key; Enable-PgWalArchiving -Repository /srv/pgbackup -Username postgres -PassphraseFile /etc/pgbackup/wal.key"
            Remarks = 'Archives into an encrypted repository: archive_command reads the passphrase from the key file.'
        }
    )
}
