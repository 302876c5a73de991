using System.Net;
using System.Security;
using Azure.Storage.Blobs;
using PgBackupTools.Core.Storage;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Storage;

/// <summary>One s3rver on 127.0.0.1 for the tests of the "s3" collection, with the bucket "backups".</summary>
public sealed class S3rverFixture : IDisposable
{
    public const string Bucket = "backups";
    public S3rverEmulator Emulator { get; } = S3rverEmulator.Start(Bucket);

    public S3rverFixture() => S3Store.HttpClientFactoryForTests = S3WireRecorder.Instance;

    public static SecureString Secure(string s) => new NetworkCredential("", s).SecurePassword;

    /// <summary>Options for a fresh prefix in the bucket (so tests never see each other's objects).</summary>
    public PgRepository Options(string? prefix = null, int? listPageSize = null, int? partSize = null, string? endpoint = null, string secret = S3rverEmulator.SecretAccessKey) => new()
    {
        Location = $"s3://{Bucket}/{prefix ?? "t-" + Guid.NewGuid().ToString("N")[..8]}",
        StoreKind = RepositoryStoreKind.S3,
        EndpointUrl = endpoint ?? Emulator.Endpoint,
        AccessKeyId = S3rverEmulator.AccessKeyId,
        SecretAccessKey = Secure(secret),
        ListPageSize = listPageSize,
        PartSizeBytes = partSize,
        MaxRetries = 0,
        StorageClass = "STANDARD_IA",
    };

    public S3Store Store(PgRepository options) => (S3Store)ObjectStoreFactory.Create(options.Location, options);

    public void Dispose() => Emulator.Dispose();
}

[CollectionDefinition("s3")]
public sealed class S3Collection : ICollectionFixture<S3rverFixture>;

/// <summary>One Azurite blob service on 127.0.0.1 for the tests of the "azure" collection, with the container "backups".</summary>
public sealed class AzuriteFixture : IDisposable
{
    public const string ContainerName = "backups";
    public AzuriteEmulator Emulator { get; } = AzuriteEmulator.Start();

    public AzuriteFixture()
    {
        new BlobContainerClient(Emulator.ConnectionString, ContainerName).CreateIfNotExists();
    }

    public PgRepository Options(string? prefix = null, int? listPageSize = null, int? partSize = null, string? endpoint = null, string key = AzuriteEmulator.AccountKey) => new()
    {
        Location = $"az://{AzuriteEmulator.AccountName}/{ContainerName}/{prefix ?? "t-" + Guid.NewGuid().ToString("N")[..8]}",
        StoreKind = RepositoryStoreKind.AzureBlob,
        EndpointUrl = endpoint ?? Emulator.BlobEndpoint,
        AccountKey = S3rverFixture.Secure(key),
        ListPageSize = listPageSize,
        PartSizeBytes = partSize,
        MaxRetries = 0,
        AccessTier = "Cool",
    };

    public AzureBlobStore Store(PgRepository options) => (AzureBlobStore)ObjectStoreFactory.Create(options.Location, options);

    public void Dispose() => Emulator.Dispose();
}

[CollectionDefinition("azure")]
public sealed class AzureCollection : ICollectionFixture<AzuriteFixture>;
