@{
    Synopsis    = 'Removes backups: the ones piped in, or those a retention policy does not keep. Never the newest unless named with -Force.'
    Description = @'
With PgBackup objects from the pipeline it removes those backups; the newest backup of a database (logical) or
stanza (physical) is refused unless -Force is given. With -Repository and a policy it removes what the policy
does not keep, judged per database and stanza, newest first: the newest always stays; the newest -KeepLast stay
whatever their age; every backup inside the -RetentionDays window stays, and so does the newest one before the
window, without which the start of the window could not be restored.

A removal deletes the manifest first, so an interrupted removal leaves no listed backup that cannot be restored;
the remains of unfinished or half-removed backups older than -GracePeriod are cleaned up by the next policy run.
-WhatIf lists exactly what would go (with the reason), -Verbose says why each kept backup stays.

Snapshot backups (New-PgVolumeSnapshot -Repository): their cloud snapshots are deleted first, then the manifest, so
nothing is left billed that no catalog entry names. Each snapshot is reached where its manifest records it was made
(provider, AWS region or GCP zone and project, endpoint; Azure snapshot resource id), with credentials from that
cloud's own chain (AWS environment, AWS_PROFILE or role; GCP application default credentials; Azure
DefaultAzureCredential, e.g. an Automation account's managed identity): Remove-PgBackup takes no provider parameters.
A snapshot already gone counts as deleted. If the provider refuses one, the backup stays in the catalog and the error
names the snapshot, its volume and provider and what to fix; run the removal again. -WhatIf names each snapshot and
sends the provider nothing. To reach snapshots differently than when they were made (another endpoint or profile),
use Get-PgVolumeSnapshot with those options piped to Remove-PgVolumeSnapshot -Repository.

WAL pruning: after a policy run (not with -Database, and not for backups piped in, which the next policy run
accounts for), the WAL archive of each stanza the policy judged is pruned: archived segments, .partial and
.backup files older than the start segment of the oldest physical backup still in the repository (its start LSN,
on every timeline) are removed; WAL from there on stays, on every timeline, and so does every .history file
(a kept timeline's history names its ancestors, and PostgreSQL picks new timeline IDs by probing for them).
A stanza without a physical backup, or with one whose manifest is unreadable or records no start LSN, keeps all
its WAL (-Verbose says why). The WAL is removed oldest first, one contiguous range per timeline at a time, so an
interrupted prune never leaves a hole before kept WAL and the next run finishes it. -WhatIf prints each range
("Remove WAL 000000010000000000000001..000000010000000000000007 (7 files) from stanza main") exactly as a real
run removes it; -PassThru writes a PgWalRemoval per removed range.
'@
    Parameters  = @{
        Backup        = 'The backups to remove, from Get-PgBackup through the pipeline. A Snapshot backup is removed with its cloud snapshots, as its manifest in the repository records them.'
        Repository    = 'The repository to apply the retention policy to.'
        RetentionDays = 'Keep every backup that started within this many days, and the newest one before them. Archived WAL older than the oldest kept physical backup of the stanza is pruned.'
        KeepLast      = 'Keep at least this many newest backups of each database or stanza, whatever their age (a minimum redundancy that a time policy cannot break).'
        Stanza        = 'Apply the policy to this stanza only.'
        Database      = 'Apply the policy to these databases only; wildcards allowed.'
        GracePeriod   = 'How old the remains of an unfinished or half-removed backup (a folder without a manifest) must be before they are removed (default: 1 day). Keep it longer than your longest backup.'
        Force         = 'Remove without asking, and allow removing the newest backup of a group when it is named from the pipeline. -WhatIf still wins.'
        PassThru      = 'Write each removed PgBackup, and a PgWalRemoval for each range of archived WAL the policy run pruned.'
    }
    Examples    = @(
        @{
            Code    = 'Remove-PgBackup -Repository /srv/pgbackup -RetentionDays 30 -KeepLast 7 -WhatIf'
            Remarks = 'Shows which backups a 30-day window with at least seven backups per database would remove, and why.'
        }
        @{
            Code    = 'Remove-PgBackup -Repository s3://pg-backups/prod -Stanza main -KeepLast 2 -Force -PassThru | Where-Object { $_ -is [PgBackupTools.PgWalRemoval] }'
            Remarks = 'Keeps the two newest physical backups of stanza main and shows the ranges of archived WAL that were pruned because no kept backup needs them.'
        }
        @{
            Code    = "Get-PgBackup -Repository /srv/pgbackup -Database app_staging | Where-Object StartTime -lt (Get-Date).AddDays(-7) | Remove-PgBackup -Force -PassThru"
            Remarks = 'Removes the staging database''s backups older than a week without asking, listing what went; its newest backup stays unless it is among them.'
        }
        @{
            Code    = 'Remove-PgBackup -Repository s3://pg-backups/prod -Stanza main -KeepLast 7 -Force -Verbose'
            Remarks = 'In an Azure Automation runbook that also takes Snapshot backups of managed disks: keeps the seven newest Snapshot backups (and physical backups) of stanza main and deletes the older ones'' disk snapshots through the Automation account''s managed identity before their catalog entries. A snapshot that cannot be deleted keeps its backup listed and fails the runbook with an error naming it.'
        }
    )
}
