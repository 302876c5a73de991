@{
    Synopsis    = 'Drops the scratch databases (pgbt_restore_*, pgbt_test_*) that killed restores and test restores left on a server.'
    Description = @'
Restore-PgDatabase restores into a staging database named pgbt_restore_<12 hex digits> and Test-PgBackup -Restore
into pgbt_test_<12 hex digits>. Each is marked at creation with a COMMENT ON DATABASE that names the host, the process
id and that process's start time. When the process is killed (SIGKILL, a runbook timeout, a pod eviction) the database
stays; Restore-PgDatabase and Test-PgBackup -Restore drop such leftovers before they start, with a warning naming each,
and this cmdlet does it on request.

A database is dropped only when its name is exactly a scratch name, it carries the marker, the process the marker names
is provably gone (on this host: that process id is not running, or runs with another start time; made on another
host: more than 24 hours ago), and nobody is connected to it. It is dropped without FORCE: a database with a session
is kept. A staging database of a -Force restore killed between its two renames (the old database renamed away, the new
one not yet in its place) is never dropped: it is written with State Interrupted, a warning and the SQL to finish or
undo the restore.

Every scratch database found is written as a PgScratchDatabase with its State (InUse, Recent, Connected, Abandoned,
Interrupted, Unmarked), whether it was Dropped, and the Reason.
'@
    Parameters  = @{
        Name  = 'Only the scratch databases with these names (wildcards allowed); others found are not written or dropped.'
        Force = 'Drop without asking. -WhatIf still wins.'
        WhatIf = 'Lists every scratch database found and what would be dropped, and drops nothing.'
        Confirm = 'Asks before dropping each database.'
    }
    Examples    = @(
        @{
            Code    = 'Remove-PgScratchDatabase -HostName db1 -Username postgres -WhatIf'
            Remarks = 'Shows the scratch databases on db1 and which of them a real run would drop.'
        }
        @{
            Code    = 'Remove-PgScratchDatabase -HostName db1 -Force | Where-Object State -eq Interrupted | Format-List Name, Reason'
            Remarks = 'Drops what killed restores left on db1, without asking, and shows the ones a person must decide about with what to do.'
        }
    )
}
