@{
    Synopsis    = 'Snapshots the volumes a PostgreSQL cluster lives on; with -Repository as a consistent Snapshot backup that Restore-PgDatabase can recover.'
    Description = @'
Takes one snapshot of every volume given (-VolumeId: EBS volume ids, GCP disk names or Azure disk resource ids), all
or none: if one snapshot fails, the ones already made are deleted and the error names the failed volume.

With -Repository and the connection parameters the set is a consistent Snapshot backup. On one session held open
throughout, pg_backup_start (non-exclusive, fast checkpoint) runs first, then the snapshots; pg_backup_stop runs as soon
as every snapshot's point in time is fixed (EBS fixes it when CreateSnapshot returns), so the server leaves backup
mode before the copies complete. Then the cmdlet waits, with progress, until every snapshot completed and the WAL
through the stop LSN reached the repository's archive (Enable-PgWalArchiving), and only then writes the backup's
manifest with the backup label, tablespace map, start and stop LSN, timeline, system identifier and the snapshot ids:
the commit point. A failure anywhere still runs pg_backup_stop, deletes the set's snapshots and writes no manifest.

Every snapshot is tagged Name, pgbt-backup-id, pgbt-set-member, pgbt-stanza, pgbt-cluster (the system identifier)
and pgbt-request (the idempotency token: EC2's CreateSnapshot has none, so a retried create finds its snapshot by it).

Without -Repository the snapshots are only crash-consistent (a warning says so), as a volume snapshot of a running
server always is.

Credentials come from each cloud's own chain and never appear in output, messages or the manifest: AWS from
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or -ProfileName, or the instance/container role; GCP from
application default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server); Azure from
DefaultAzureCredential (environment, workload or managed identity, Azure CLI). GCP snapshots use disks.createSnapshot
with a requestId and labels (lowercased; the exact tags are kept in the description); Azure snapshots are incremental
copies whose PUT is idempotent by name.
'@
    Parameters  = @{
        Provider         = 'The cloud: Aws (EBS volumes, AWSSDK.EC2), Gcp (persistent disks, Compute Engine v1 REST) or Azure (managed disks, ARM REST).'
        VolumeId         = 'Every volume the cluster lives on (aliases -Disk, -DiskId): vol-… ids for AWS, disk names for GCP, disk resource ids for Azure. Takes VolumeId from the pipeline by property name, so Get-EC2Volume output binds.'
        Zone             = 'GCP: the zone of the disks.'
        Repository       = 'The repository whose catalog records the consistent Snapshot backup. Its WAL archive must receive the cluster''s WAL (Enable-PgWalArchiving), since a restore replays it.'
        Stanza           = 'The stanza of the repository the backup and its WAL belong to (default main).'
        Tag              = 'More tags for every snapshot, as a hashtable (@{ team = ''db'' }). Keys starting with pgbt- are reserved.'
        ArchiveTimeout   = 'How long to wait for the WAL through the stop LSN to reach the repository''s archive (default 2 minutes); the backup is not kept otherwise.'
        Region           = 'AWS region (default: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1).'
        Endpoint         = 'The provider API endpoint URL (alias -EndpointUrl), for VPC endpoints and tests; AWS also reads AWS_ENDPOINT_URL_EC2.'
        ProfileName      = 'AWS shared-credentials profile to use instead of the default credential chain.'
        Project          = 'GCP project (default: GOOGLE_CLOUD_PROJECT).'
        SubscriptionId   = 'Azure subscription (default: AZURE_SUBSCRIPTION_ID); needed to list snapshots.'
        ResourceGroup    = 'Azure resource group of the snapshots (default: the disk''s); also narrows listing.'
        HostName         = 'With -Repository: the server to put in backup mode (alias -Host; default PGHOST).'
        Port             = 'With -Repository: the server port (default PGPORT, then 5432).'
        Username         = 'With -Repository: the role to connect as; it needs pg_backup_start/pg_backup_stop rights (superuser or granted EXECUTE).'
        Credential       = 'With -Repository: role and password as a PSCredential.'
        ConnectionString = 'With -Repository: a libpq, URI or Npgsql connection string for the server.'
    }
    Examples    = @(
        @{
            Code    = 'New-PgVolumeSnapshot -Provider Gcp -Project my-project -Zone europe-west1-b -Disk pg-data, pg-wal -Repository /srv/pgbackup -HostName db1 -Username postgres'
            Remarks = 'A consistent Snapshot backup of two GCP persistent disks (credentials from GOOGLE_APPLICATION_CREDENTIALS or the metadata server).'
        }
        @{
            Code    = 'New-PgVolumeSnapshot -Provider Aws -Region eu-west-1 -VolumeId vol-0a1b2c3d4e5f60718, vol-0f1e2d3c4b5a69788 -Repository s3://backups/pg -HostName db1 -Username postgres'
            Remarks = 'A consistent Snapshot backup of a cluster whose data and WAL live on two EBS volumes, recorded in the S3 repository its WAL is archived to.'
        }
        @{
            Code    = "Get-EC2Volume -Filter @{ Name = 'tag:role'; Values = 'pgdata' } | New-PgVolumeSnapshot -Provider Aws -Repository /srv/pgbackup -Tag @{ schedule = 'nightly' }"
            Remarks = 'Snapshots every volume tagged role=pgdata (VolumeId binds by property name) as one consistent set.'
        }
    )
}
