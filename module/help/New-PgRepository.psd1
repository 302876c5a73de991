@{
    Synopsis    = "Describes a repository in a directory, an S3 bucket or an Azure Blob container, with the options its location cannot hold."
    Description = @'
Writes a PgRepository object that every -Repository parameter takes. A plain string works too: a directory path,
s3://bucket/prefix or az://account/container/prefix; the options then come from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, instance and container roles,
web identity; AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_KEY, AZURE_STORAGE_BLOB_ENDPOINT,
else Azure.Identity's DefaultAzureCredential, which is the managed identity in Azure Automation).

The options of a PgRepository are remembered for its location for the rest of the session (in memory only), so
PgBackup objects that carry the location (Get-PgBackup | Test-PgBackup) reach the store with the same endpoint and
credentials. In a new session, pass the PgRepository again or use the environment variables.

S3-compatible stores: give -EndpointUrl (path-style addressing is then on unless -ForcePathStyle:$false). MinIO and
Ceph RGW: their URL; Cloudflare R2: https://<account-id>.r2.cloudflarestorage.com with -Region auto; Google Cloud
Storage: https://storage.googleapis.com with HMAC keys (interoperability) as -Credential.
Secrets are SecureStrings; they never appear in the object's display, verbose output, manifests or errors.
Nothing is contacted here: Invoke-PgBackup creates the repository on first use (the bucket or container must exist).
'@
    Parameters  = @{
        Location                = 'A directory path, s3://bucket/prefix or az://account/container/prefix.'
        EndpointUrl             = 'S3: the endpoint of an S3-compatible store (for example http://127.0.0.1:9000). Azure: the blob service URL (for example an Azurite or sovereign-cloud endpoint).'
        Region                  = 'S3 region (default: AWS_REGION, then us-east-1).'
        ForcePathStyle          = 'S3 path-style addressing (bucket in the path). On by default with -EndpointUrl, off against AWS.'
        StorageClass            = 'S3 storage class of the objects written, for example STANDARD_IA.'
        ServerSideEncryption    = 'S3 server-side encryption: AES256 (S3-managed keys) or aws:kms (with -KmsKeyId).'
        KmsKeyId                = 'S3 KMS key for aws:kms encryption (implies -ServerSideEncryption aws:kms).'
        ProfileName             = 'An AWS profile from the shared credentials or config file.'
        AccessKeyId             = 'S3 access key id (with -SecretAccessKey).'
        SecretAccessKey         = 'S3 secret access key as a SecureString.'
        SessionToken            = 'S3 session token of temporary credentials, as a SecureString.'
        Credential              = 'S3: access key id as user name and secret key as password. Azure: account name and account key. Works with Get-AutomationPSCredential.'
        StorageConnectionString = 'Azure: a storage connection string as a SecureString.'
        SasToken                = 'Azure: a SAS token for the container, as a SecureString.'
        AccountKey              = 'Azure: the storage account key, as a SecureString.'
        AccessTier              = 'Azure access tier of the blobs written: Hot, Cool, Cold or Archive.'
        Metadata                = 'Metadata added to every object written (S3 x-amz-meta-*, Azure blob metadata), as a hashtable.'
        PartSizeMB              = 'Size of each uploaded part or block, in MiB (default 8). Memory per upload is about (MaxParallelParts + 1) times this.'
        MaxParallelParts        = 'Parts or blocks uploaded at once per object (default 4).'
        ListPageSize            = 'Objects per list request (default 1000).'
        MaxRetries              = 'How often the SDK retries a failed request (default 3).'
    }
    Examples    = @(
        @{
            Code    = "`$repo = New-PgRepository s3://backups/pg -StorageClass STANDARD_IA -ServerSideEncryption AES256`nInvoke-PgBackup -Repository `$repo -Database app -Format Custom"
            Remarks = 'Backs up app into S3 with the AWS default credentials (environment, profile or role).'
        }
        @{
            Code    = "`$repo = New-PgRepository s3://backups/pg -EndpointUrl http://minio:9000 -Credential (Get-Credential)`nGet-PgBackup `$repo | Test-PgBackup -Restore"
            Remarks = 'Uses a MinIO server; the piped backups find the endpoint and credentials again by their location.'
        }
        @{
            Code    = "Invoke-PgBackup -Repository (New-PgRepository az://mystorage/backups/pg -AccessTier Cool) -Database app -Format Custom"
            Remarks = 'In Azure Automation: the managed identity of the account (DefaultAzureCredential) writes to the container.'
        }
    )
}
