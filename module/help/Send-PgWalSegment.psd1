@{
    Synopsis    = "Pushes WAL files into a repository's archive, idempotently, as archive_command does."
    Description = @'
Archives WAL segments, .partial, .backup and .history files under wal/<stanza>/<timeline>/ in the repository:
compressed, with the SHA-256 and size of the raw file in the object's header, written atomically and never
overwritten. A file already archived with identical content is a success (AlreadyArchived is true); one with
different content is an error and the archived copy is kept. The stanza is bound to one cluster by the system
identifier in the first segment it receives; WAL from another cluster is refused.

A segment in a live pg_wal that PostgreSQL has not marked .ready or .done in archive_status (the one it is writing,
or a recycled file) is refused.

This cmdlet is for interactive use. PostgreSQL's archive_command runs the pgbt-wal executable in the module's bin
folder instead (it starts in milliseconds, pwsh in most of a second): Enable-PgWalArchiving sets it up.
'@
    Parameters  = @{
        Path        = 'The WAL files to push (a path as archive_command''s %p gives it). Also bound from the pipeline (Get-ChildItem output).'
        Repository  = 'The repository directory. It must exist (Enable-PgWalArchiving or Invoke-PgBackup creates it).'
        Stanza      = 'The stanza (one per cluster) to archive into. Default: main.'
        Compression = 'Zstd (default), Gzip or None. A file archived under another compression is still found, never pushed twice.'
    }
    Examples    = @(
        @{
            Code    = 'Send-PgWalSegment -Path /var/lib/postgresql/15/main/pg_wal/000000010000000000000003 -Repository /srv/pgbackup'
            Remarks = 'Archives one segment into stanza main and shows its size, stored size and SHA-256.'
        }
        @{
            Code    = "Get-ChildItem /var/lib/postgresql/15/main/pg_wal/archive_status -Filter '*.ready' | ForEach-Object { Join-Path /var/lib/postgresql/15/main/pg_wal `$_.BaseName } | Send-PgWalSegment -Repository /srv/pgbackup"
            Remarks = 'Pushes the files PostgreSQL has finished and not archived yet (a .ready file in archive_status), for example while archive_command was broken. The segment being written has no .ready file and is refused: archived early, its copy would differ from the finished segment.'
        }
    )
}
