@{
    Synopsis    = 'Deletes volume snapshots: the ones piped in, or whole sets older than -RetentionDays, never the newest complete set.'
    Description = @'
With PgVolumeSnapshot objects from the pipeline it deletes those snapshots. With -RetentionDays it lists every
snapshot this module made, groups them into sets by their pgbt-backup-id tag and deletes the sets that started
more than that many days ago, whole. The newest complete set always stays, and so does a set still completing.
-WhatIf lists what would go and why; -Verbose says why each kept set stays.

With -Repository, the Snapshot backup a set belongs to leaves that repository's catalog once all the set's snapshots
are deleted (Remove-PgBackup removes Snapshot backups the same way). If one cannot be deleted, the entry stays, so no
snapshot is left that nothing names, and the error names the snapshot and says what to fix; a snapshot already gone
counts as deleted, so running it again finishes the job.
'@
    Parameters  = @{
        InputObject    = 'The snapshots to delete, from Get-PgVolumeSnapshot or New-PgVolumeSnapshot.'
        RetentionDays  = 'Delete the sets that started more than this many days ago (the seed used 90); the newest complete set always stays.'
        Repository     = 'The repository whose catalog records the sets as Snapshot backups: their manifests are removed once all their snapshots are deleted.'
        Force          = 'Delete without asking. -WhatIf still wins.'
        PassThru       = 'Write each deleted PgVolumeSnapshot.'
        Provider       = 'The cloud: Aws, Gcp or Azure (default: the Provider of the piped snapshots).'
        Zone           = 'GCP: the zone of the disks.'
        Region         = 'AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1).'
        Endpoint       = 'The provider API endpoint URL (alias -EndpointUrl), for VPC endpoints and tests.'
        ProfileName    = 'AWS shared-credentials profile.'
        Project        = 'GCP project (default: GOOGLE_CLOUD_PROJECT).'
        SubscriptionId = 'Azure subscription (default: AZURE_SUBSCRIPTION_ID); needed to list snapshots.'
        ResourceGroup  = 'Azure resource group of the snapshots (default: the disk''s); also narrows listing.'
        WhatIf         = 'Shows which snapshots would be deleted and why, and deletes nothing.'
        Confirm        = 'Asks before deleting each set.'
    }
    Examples    = @(
        @{
            Code    = 'Remove-PgVolumeSnapshot -Provider Aws -Region eu-west-1 -RetentionDays 90 -Repository s3://backups/pg -Force'
            Remarks = 'The seed''s nightly retention, made safe: sets older than 90 days go, with their catalog entries; the newest set stays.'
        }
        @{
            Code    = "Get-PgVolumeSnapshot -Provider Aws -BackupId 20260101T020000Z-3fa2c1 | Remove-PgVolumeSnapshot -WhatIf"
            Remarks = 'Shows what deleting one set would remove.'
        }
    )
}
