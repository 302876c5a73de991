@{
    Synopsis    = "Streams WAL over the replication protocol into a repository's archive: seconds (or, synchronous, zero) of data loss instead of archive_timeout."
    Description = @'
Connects to the server as a physical replication client (like pg_receivewal) and writes the WAL into the repository's
archive layout: each complete segment exactly as archive_command (pgbt-wal push) would store it — same header,
compression and encryption, so a restore cannot tell who wrote it — and the segment being received as
<segment>.partial, rewritten every -FlushInterval. restore_command serves that partial (zero-padded) when the segment
itself is not archived, so a restore to "latest" includes the streamed tail. The server is told a flush position only
for bytes that are durable in the repository, so a replication slot never passes what is stored; the position is also
written to wal/<stanza>/stream.json for status reports. Timeline switches are followed (the .history file is
archived), lost connections are retried with exponential backoff (1 s up to 30 s), and Ctrl+C, SIGTERM and
Stop-PgWalStream stop it cleanly after a last flush. It runs until stopped and then writes a PgWalStreamStatus.
It can run beside archive_command into the same stanza: a segment both deliver is the same bytes (success); different
bytes are refused and stop the stream. The role needs the REPLICATION attribute and a 'replication' line in pg_hba.conf.
One stream per repository and stanza runs on a machine (a lock in -StateDirectory).
'@
    Parameters  = @{
        Repository     = 'The repository directory or s3:// / az:// URL. It must exist (New-PgRepository).'
        Stanza         = 'The archive stanza to stream into. Default: main.'
        Slot           = 'A physical replication slot (lower-case letters, digits, _). With a slot the server keeps WAL until the repository holds it, and a restarted stream resumes exactly where it confirmed. Without one, WAL the stream has not received may be removed while it is down.'
        CreateSlot     = 'Create -Slot if it does not exist.'
        Synchronous    = 'Confirm every durable write at once instead of once per -FlushInterval. Put the -ApplicationName into synchronous_standby_names (and keep synchronous_commit on): every commit is acknowledged only once its WAL is in the repository (RPO 0; each commit waits for a repository write).'
        ApplicationName = 'The application_name the stream connects with, which synchronous_standby_names names. Default: pgbt_<stanza>.'
        FlushInterval  = 'How often the open segment''s .partial is rewritten and confirmed (asynchronous mode). Default: 0.5 seconds, which keeps the p99 from commit to durable under 1 s (docs/wal-streaming.md); this bounds the data loss. Each flush rewrites the open segment''s .partial, so on a remote object store a longer interval costs fewer writes.'
        Compression    = 'Compression of the stored WAL: Zstd (default), Gzip, Lz4 or None.'
        StateDirectory = 'Where the lock and stop-request files live. Default: $env:PGBACKUPTOOLS_STATE_DIR, else ~/.local/state/PgBackupTools (Windows: %LOCALAPPDATA%\PgBackupTools). Stop-PgWalStream must be given the same one.'
        HostName       = 'Server host name, IP address or Unix socket directory (PGHOST).'
        Port           = 'Server port (PGPORT, default 5432).'
        Username       = 'Role to connect as (PGUSER); it needs the REPLICATION attribute.'
    }
    Examples    = @(
        @{
            Code    = 'Start-PgWalStream -Repository /srv/pgbackup -HostName db1 -Username replicator -Slot pgbt -CreateSlot -Verbose'
            Remarks = 'Streams the WAL of db1 into stanza main until Ctrl+C, with a slot so that nothing is lost while the stream is down.'
        }
        @{
            Code    = "psql -h db1 -U postgres -c `"ALTER SYSTEM SET synchronous_standby_names = 'pgbt_main'`" -c 'SELECT pg_reload_conf()'`nStart-PgWalStream -Repository /srv/pgbackup -HostName db1 -Slot pgbt -Synchronous"
            Remarks = 'Synchronous: every acknowledged commit is in the repository (RPO 0). If the stream stops, commits wait until it is back.'
        }
        @{
            Code    = 'Start-PgWalStream -Repository /srv/pgbackup -HostName db1 -Slot pgbt | Format-List FlushLsn, Timeline, LagBytes'
            Remarks = 'After Ctrl+C or Stop-PgWalStream: where the stream stopped (the WAL durable in the repository).'
        }
        @{
            Code    = "pwsh -NoProfile -Command 'Start-PgWalStream -Repository /srv/pgbackup -HostName db1 -Slot pgbt'   # or: pgbt-wal stream --repo /srv/pgbackup --host db1 --slot pgbt"
            Remarks = 'As a service: see examples/pgbt-wal-stream.service (systemd) and examples/Register-PgWalStreamTask.ps1 (Windows, at boot). SIGTERM stops it cleanly.'
        }
    )
}
