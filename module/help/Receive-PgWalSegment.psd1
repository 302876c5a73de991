@{
    Synopsis    = "Fetches WAL files from a repository's archive, verified, as restore_command does."
    Description = @'
Finds the archived file by name (under whichever compression it was stored), decompresses it, checks its SHA-256
and size against those recorded when it was archived, and only then moves it into place: a damaged archive never
produces a destination file. A name that is not archived is an ObjectNotFound error.

With -Prefetch N the next N segments are fetched in parallel into a 'pgbt-prefetch' folder beside the destination
and served from there when asked for, after checking them again against the archive.

This cmdlet is for interactive use. PostgreSQL's restore_command runs the pgbt-wal executable in the module's bin
folder ('pgbt-wal get %f %p --repo <dir>'; exit code 1 when the file is not archived), which prefetches 4 segments.
'@
    Parameters  = @{
        Name        = 'The WAL file names (as restore_command''s %f gives them). Also bound from the pipeline.'
        Destination = 'The file to write, or an existing directory to write each file into under its own name. An existing file is replaced.'
        Repository  = 'The repository directory.'
        Stanza      = 'The stanza to read from. Default: main.'
        Prefetch    = 'How many following segments to fetch ahead in parallel (0, the default, for none).'
        WhatIf      = 'Shows which files would be written where, and writes nothing.'
        Confirm     = 'Asks before writing each file.'
    }
    Examples    = @(
        @{
            Code    = 'Receive-PgWalSegment -Name 000000010000000000000003 -Destination /tmp/wal -Repository /srv/pgbackup'
            Remarks = 'Writes the verified segment into /tmp/wal/000000010000000000000003.'
        }
        @{
            Code    = "'00000002.history', '000000020000000000000007' | Receive-PgWalSegment -Destination ./restore -Repository /srv/pgbackup -Stanza prod"
            Remarks = 'Fetches a history file and a segment of stanza prod into ./restore.'
        }
    )
}
