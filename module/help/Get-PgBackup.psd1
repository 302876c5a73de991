@{
    Synopsis    = "Lists the backups in a repository, read from their manifests."
    Description = @'
Reads the manifest of every committed backup (a backup without a manifest never finished and does not exist) and
writes PgBackup objects, oldest first, that pipe into Restore-PgDatabase and Test-PgBackup. A manifest that cannot
be read is reported as a warning and skipped.
'@
    Parameters  = @{
        Repository = 'The repository: a directory path, s3://bucket/prefix, az://account/container/prefix, or a PgRepository from New-PgRepository. Also bound from the pipeline by property name (a PgBackup or any object with a Repository property).'
        Database   = 'Only backups of these databases; wildcards allowed.'
        Stanza     = 'Only backups of this stanza.'
        Id         = 'Only the backups with these exact ids. An id that names no readable backup writes an ObjectNotFound error (non-terminating); add -ErrorAction SilentlyContinue to test whether a backup exists.'
        Type       = 'Only Logical, Physical or Snapshot backups.'
        Latest     = 'Only the newest backup of each database (logical) or stanza (physical).'
    }
    Examples    = @(
        @{
            Code    = 'Get-PgBackup -Repository /srv/pgbackup'
            Remarks = 'Lists every backup in the repository as a table.'
        }
        @{
            Code    = "Get-PgBackup -Repository /srv/pgbackup -Database app -Latest | Restore-PgDatabase -TargetDatabase app_copy -Force"
            Remarks = 'Restores the newest backup of app into a new database app_copy.'
        }
        @{
            Code    = "if (-not (Get-PgBackup -Repository /srv/pgbackup -Id 20261124T020000Z-3fa2c1 -ErrorAction SilentlyContinue)) { 'gone' }"
            Remarks = 'Tests whether a backup still exists without writing an error.'
        }
        @{
            Code    = "Get-PgBackup -Repository /srv/pgbackup | Where-Object StartTime -gt (Get-Date).AddDays(-7) | Format-List"
            Remarks = 'Shows every detail of the last week''s backups: files with their SHA-256, row counts, server and versions.'
        }
    )
}
