@{
    Synopsis    = 'Creates a volume from every snapshot of a set in one zone and returns them (PgVolume), ready to attach and mount.'
    Description = @'
Creates one volume (disk) per snapshot, piped in from Get-PgVolumeSnapshot or taken from a Snapshot backup (-Backup,
from Get-PgBackup -Type Snapshot), in -Zone, and waits until each is available. Each create carries a client token, so a
retried request never makes a second volume. The PgVolume objects carry VolumeId for AWS.Tools.EC2
(Add-EC2Volume). After attaching and mounting them, Restore-PgDatabase -Backup <the Snapshot backup> -DataDirectory
<the mounted data directory> puts the backup label in place and configures recovery.
'@
    Parameters  = @{
        InputObject    = 'The snapshots to create volumes from.'
        Backup         = 'A Snapshot backup: a volume from each of its snapshots.'
        Zone           = 'The availability zone to create the volumes in (alias -AvailabilityZone), e.g. eu-west-1a.'
        Tag            = 'Tags for the new volumes, as a hashtable. Keys starting with pgbt- are reserved.'
        Provider       = 'The cloud (default: the Provider of the snapshots).'
        Region         = 'AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1).'
        Endpoint       = 'The provider API endpoint URL (alias -EndpointUrl), for VPC endpoints and tests.'
        ProfileName    = 'AWS shared-credentials profile.'
        Project        = 'GCP project (default: GOOGLE_CLOUD_PROJECT).'
        SubscriptionId = 'Azure subscription (default: AZURE_SUBSCRIPTION_ID); needed to list snapshots.'
        ResourceGroup  = 'Azure resource group of the snapshots (default: the disk''s); also narrows listing.'
        WhatIf         = 'Shows which volumes would be created, and creates none.'
        Confirm        = 'Asks before creating each volume.'
    }
    Examples    = @(
        @{
            Code    = 'Get-PgBackup -Repository s3://backups/pg -Type Snapshot -Latest | Restore-PgVolumeSnapshot -Zone eu-west-1b -Region eu-west-1'
            Remarks = 'Volumes from the newest Snapshot backup in eu-west-1b.'
        }
        @{
            Code    = "`$backup = Get-PgBackup -Repository s3://backups/pg -Type Snapshot -Latest`n`$backup | Restore-PgVolumeSnapshot -Zone eu-west-1b | ForEach-Object { Add-EC2Volume -VolumeId `$_.VolumeId -InstanceId i-0123456789abcdef0 -Device /dev/sdf }`n# mount it on /srv/pgdata, then:`n`$backup | Restore-PgDatabase -DataDirectory /srv/pgdata/data -TargetTime '2026-11-24 09:59:00Z' -Start"
            Remarks = 'The whole recovery: volumes from the snapshots, attached with AWS.Tools.EC2, and the mounted directory recovered to a point in time.'
        }
    )
}
