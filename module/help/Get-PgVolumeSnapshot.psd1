@{
    Synopsis    = 'Lists the volume snapshots this module made (tagged pgbt-backup-id), newest first.'
    Description = @'
Reads the provider's snapshots that carry the pgbt-backup-id tag and writes them as PgVolumeSnapshot objects, whose
SnapshotId and VolumeId pipe into AWS.Tools.EC2 cmdlets by property name. Filter by snapshot set (a Snapshot backup's
id; PgBackup objects from Get-PgBackup -Type Snapshot bind by their Id), volume or snapshot id.
'@
    Parameters  = @{
        Provider       = 'The cloud: Aws, Gcp or Azure.'
        BackupId       = 'Only the snapshots of these sets (alias -Id, so Get-PgBackup output binds).'
        VolumeId       = 'Only the snapshots of these volumes (aliases -Disk, -DiskId).'
        SnapshotId     = 'Only these snapshots.'
        Zone           = 'GCP: the zone of the disks.'
        Region         = 'AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1).'
        Endpoint       = 'The provider API endpoint URL (alias -EndpointUrl), for VPC endpoints and tests.'
        ProfileName    = 'AWS shared-credentials profile.'
        Project        = 'GCP project (default: GOOGLE_CLOUD_PROJECT).'
        SubscriptionId = 'Azure subscription (default: AZURE_SUBSCRIPTION_ID); needed to list snapshots.'
        ResourceGroup  = 'Azure resource group of the snapshots (default: the disk''s); also narrows listing.'
    }
    Examples    = @(
        @{
            Code    = 'Get-PgVolumeSnapshot -Provider Aws -Region eu-west-1'
            Remarks = 'Every snapshot this module made in eu-west-1, newest first, with state and progress.'
        }
        @{
            Code    = 'Get-PgBackup -Repository /srv/pgbackup -Type Snapshot -Latest | Get-PgVolumeSnapshot -Provider Aws | Get-EC2Snapshot'
            Remarks = 'The snapshots of the newest Snapshot backup, handed to AWS.Tools.EC2 by SnapshotId.'
        }
    )
}
