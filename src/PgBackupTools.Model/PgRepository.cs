using System.Security;

namespace PgBackupTools;

/// <summary>Where a repository's objects live.</summary>
public enum RepositoryStoreKind { FileSystem, S3, AzureBlob }

/// <summary>
/// A repository location with the options a location string cannot hold: endpoint, region, path style, storage class,
/// server-side encryption, access tier and credentials. New-PgRepository writes it; every -Repository parameter takes it
/// (or a plain path / s3:// / az:// string). Secrets are SecureStrings and never appear in ToString, views or messages.
/// </summary>
public sealed class PgRepository
{
    /// <summary>A directory path, "s3://bucket/prefix" or "az://account/container/prefix": what PgBackup.Repository holds.</summary>
    public string Location { get; set; } = "";
    public RepositoryStoreKind StoreKind { get; set; }

    /// <summary>S3: a custom endpoint (MinIO, Ceph, R2, GCS interoperability); Azure: the blob service URL.</summary>
    public string? EndpointUrl { get; set; }
    /// <summary>S3 region (default: AWS_REGION, the profile, then us-east-1).</summary>
    public string? Region { get; set; }
    /// <summary>S3 path-style addressing; null means on with a custom endpoint, off without.</summary>
    public bool? ForcePathStyle { get; set; }
    /// <summary>S3 storage class (STANDARD, STANDARD_IA, ...); null leaves the bucket default.</summary>
    public string? StorageClass { get; set; }
    /// <summary>S3 server-side encryption: AES256 or aws:kms.</summary>
    public string? ServerSideEncryption { get; set; }
    /// <summary>S3 KMS key id for aws:kms (an id, not a secret).</summary>
    public string? KmsKeyId { get; set; }
    /// <summary>S3 named profile from ~/.aws/credentials.</summary>
    public string? ProfileName { get; set; }
    /// <summary>Azure access tier (Hot, Cool, Cold, Archive); null leaves the account default.</summary>
    public string? AccessTier { get; set; }

    /// <summary>S3 access key id (not a secret on its own, but never logged either).</summary>
    public string? AccessKeyId { get; set; }
    public SecureString? SecretAccessKey { get; set; }
    public SecureString? SessionToken { get; set; }
    /// <summary>Azure: a storage connection string.</summary>
    public SecureString? ConnectionString { get; set; }
    /// <summary>Azure: a SAS token ("sv=...&amp;sig=...").</summary>
    public SecureString? SasToken { get; set; }
    /// <summary>Azure: the storage account key.</summary>
    public SecureString? AccountKey { get; set; }

    /// <summary>How the store authenticates, for display ("explicit keys", "default chain", ...); never a secret.</summary>
    public string CredentialSource { get; set; } = "";

    /// <summary>Object metadata added to every object written (x-amz-meta-*, Azure metadata).</summary>
    public Dictionary<string, string> Metadata { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Objects per list request (default 1000); small values are for tests of paging.</summary>
    public int? ListPageSize { get; set; }
    /// <summary>Bytes per uploaded part/block (default 8 MiB).</summary>
    public int? PartSizeBytes { get; set; }
    /// <summary>Parts/blocks uploaded at once (default 4); memory is about (this + 1) × part size per upload.</summary>
    public int? MaxParallelParts { get; set; }
    /// <summary>Retries of a failed request by the SDK (default 3).</summary>
    public int? MaxRetries { get; set; }

    public override string ToString() => Location;
}
