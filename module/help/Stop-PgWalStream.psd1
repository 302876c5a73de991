@{
    Synopsis    = 'Stops the WAL stream of a repository and stanza that runs on this machine, after its last flush.'
    Description = @'
Finds the stream that Start-PgWalStream (or pgbt-wal stream) runs for the repository and stanza through its lock in the
state directory, asks it to stop through a stop-request file, and waits until it has flushed the open segment's
.partial, confirmed its position and exited. Works the same for a service, a background job and another terminal,
on Linux and Windows. Writes an error when no such stream runs.
'@
    Parameters  = @{
        Repository     = 'The repository the stream writes into, as it was given to Start-PgWalStream.'
        Stanza         = 'The stanza. Default: main.'
        StateDirectory = 'The state directory the stream was started with (default: $env:PGBACKUPTOOLS_STATE_DIR, else the per-user state folder).'
        TimeoutSeconds = 'How long to wait for the stream to stop. Default: 60.'
        PassThru       = 'Write the stream''s final position (a PgWalStreamStatus) read from the repository.'
    }
    Examples    = @(
        @{
            Code    = 'Stop-PgWalStream -Repository /srv/pgbackup -PassThru'
            Remarks = 'Stops the stream of stanza main and shows where it stopped.'
        }
        @{
            Code    = "'main', 'reporting' | ForEach-Object { Stop-PgWalStream -Repository /srv/pgbackup -Stanza `$_ }"
            Remarks = 'Stops the streams of two stanzas.'
        }
        @{
            Code    = '$job = Start-Job { Start-PgWalStream -Repository /srv/pgbackup -HostName db1 -Slot pgbt }; ... ; Stop-PgWalStream -Repository /srv/pgbackup; Receive-Job $job -Wait'
            Remarks = 'A stream in a background job, stopped cleanly from the session that started it.'
        }
    )
}
