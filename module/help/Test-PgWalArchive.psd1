@{
    Synopsis    = "Checks a WAL archive: missing segments, and with a server, whether archive_command is failing."
    Description = @'
Lists the archived WAL of a stanza and checks that it is continuous on each timeline, from the oldest archived segment
(or from -StartSegment, such as the first segment a base backup needs) to the newest; every missing range is named
in MissingRanges and Problems. With connection parameters it also reads pg_stat_archiver: archived and failed counts,
the last failure, and the age of the last archived segment, and checks that the server is the cluster the stanza
archives. Passed is true only when no problem was found.
'@
    Parameters  = @{
        Repository       = 'The repository directory. Also bound from the pipeline by property name.'
        Stanza           = 'The stanza to check. Default: main.'
        StartSegment     = 'Check from this segment name on: segments missing between it and the oldest archived one are reported too.'
        HostName         = 'Server host name, IP address or Unix socket directory (PGHOST). Giving any connection parameter reads pg_stat_archiver.'
        Port             = 'Server port (PGPORT, default 5432).'
        Username         = 'Role to connect as (PGUSER).'
        Credential       = 'Role and password.'
        ConnectionString = 'A libpq, URI or Npgsql connection string.'
    }
    Examples    = @(
        @{
            Code    = 'Test-PgWalArchive -Repository /srv/pgbackup -HostName db1 -Username postgres'
            Remarks = 'Checks the continuity of stanza main and the archiver status of db1.'
        }
        @{
            Code    = "Test-PgWalArchive -Repository /srv/pgbackup | Select-Object -ExpandProperty MissingRanges"
            Remarks = 'Lists the ranges of segments missing from the archive.'
        }
    )
}
