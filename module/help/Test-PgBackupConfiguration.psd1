@{
    Synopsis    = "Checks that a server really archives its WAL into a repository, and says what to fix."
    Description = @'
Like pgBackRest's check. Writes one PgConfigurationCheck per check, each with Status OK, WARNING or FAILED, what was
found (Detail) and what to do (Fix):
Repository reachable, Repository writable, Server connection, wal_level (replica or logical), archive_mode (on),
archive_command (runs pgbt-wal push %p into this repository and stanza), archive_timeout (set, and within -RpoTarget),
Stanza (bound to this cluster's system identifier), WAL switch (it writes a restore point, runs pg_switch_wal() and
waits up to -Timeout until that segment is in the repository, failing at once when archive_command fails after the
switch), and Archiver (pg_stat_archiver read after the switch: no failure since the last success).

All checks are written first; then, if any FAILED, one non-terminating error names each failed check and its fix, so
$? is false and -ErrorAction Stop makes a script stop. The switch needs a role allowed to run pg_switch_wal()
(a superuser, or EXECUTE granted); on a standby it is skipped with a warning.
'@
    Parameters  = @{
        Repository = 'The repository archive_command should push into: a directory, s3://bucket/prefix or az://account/container/prefix.'
        Stanza     = 'The stanza archive_command should push into. Default: main.'
        Timeout    = 'How long to wait for the switched segment to reach the repository: 60s, 2min, 00:01:00 or a number of seconds. Default: 60s.'
        RpoTarget  = 'archive_timeout above this draws a warning (a quiet server could leave more unarchived). Default: 5min.'
    }
    Examples    = @(
        @{
            Code    = 'Test-PgBackupConfiguration -Repository /srv/pgbackup -HostName /var/run/postgresql -Username postgres'
            Remarks = 'Every check with its status and fix; an error at the end if any failed.'
        }
        @{
            Code    = 'Test-PgBackupConfiguration -Repository /srv/pgbackup -Username postgres | Where-Object Status -ne OK | Format-List Name, Detail, Fix'
            Remarks = 'Only what needs attention, with what to do about it.'
        }
    )
}
