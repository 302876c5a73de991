namespace PgBackupTools.Core.Storage;

/// <summary>
/// The environment variables through which pgbt-wal, run by PostgreSQL as archive_command or restore_command, finds an
/// object store. pgbt-wal takes only the location on its command line (the command line is visible to every user);
/// endpoint and credentials come from the environment PostgreSQL passes on, read by <see cref="S3Store"/> and
/// <see cref="AzureBlobStore"/> like the SDKs' own variables (docs/wal-archiving.md).
/// When PgBackupTools itself starts a restored server (Restore-PgDatabase -DataDirectory -Start, Test-PgBackup of a
/// physical backup), it passes the options New-PgRepository gave for the location this way, so restore_command reaches
/// the same store with the same credentials. The variables live in that server's environment only, readable by its OS
/// user, as PGPASSWORD would be.
/// </summary>
public static class RepositoryEnvironment
{
    /// <summary>
    /// Variables for a child process (an empty value means: unset it) that must reach <paramref name="location"/> the way this process does: from the
    /// options registered for it (New-PgRepository), or none (the child then uses the environment it inherits).
    /// </summary>
    public static IReadOnlyDictionary<string, string> For(string location) =>
        ObjectStoreFactory.Find(location) is { } options ? For(options) : new Dictionary<string, string>();

    public static IReadOnlyDictionary<string, string> For(PgRepository options)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        void Set(string name, string? value) { if (!string.IsNullOrEmpty(value)) env[name] = value; }
        switch (RepositoryLocation.Parse(options.Location).Kind)
        {
            case RepositoryStoreKind.S3:
                Set("AWS_ENDPOINT_URL_S3", options.EndpointUrl);
                Set("AWS_REGION", options.Region);
                Set("AWS_PROFILE", options.ProfileName);
                Set(S3Store.StorageClassVariable, options.StorageClass);
                Set(S3Store.ServerSideEncryptionVariable, options.ServerSideEncryption);
                Set(S3Store.KmsKeyIdVariable, options.KmsKeyId);
                if (options.AccessKeyId is not null && options.SecretAccessKey is not null)
                {
                    Set("AWS_ACCESS_KEY_ID", options.AccessKeyId);
                    Set("AWS_SECRET_ACCESS_KEY", SecureStrings.Reveal(options.SecretAccessKey));
                    if (options.SessionToken is not null) Set("AWS_SESSION_TOKEN", SecureStrings.Reveal(options.SessionToken));
                }
                break;
            case RepositoryStoreKind.AzureBlob:
                Set("AZURE_STORAGE_BLOB_ENDPOINT", options.EndpointUrl);
                Set(AzureBlobStore.AccessTierVariable, options.AccessTier);
                if (options.ConnectionString is not null || options.SasToken is not null || options.AccountKey is not null)
                    // The store takes the first of these it finds: empty ones hide what the child would inherit.
                    foreach (var name in new[] { "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_KEY" }) env[name] = "";
                if (options.ConnectionString is not null) Set("AZURE_STORAGE_CONNECTION_STRING", SecureStrings.Reveal(options.ConnectionString));
                else if (options.SasToken is not null) Set("AZURE_STORAGE_SAS_TOKEN", SecureStrings.Reveal(options.SasToken));
                else if (options.AccountKey is not null) Set("AZURE_STORAGE_KEY", SecureStrings.Reveal(options.AccountKey));
                break;
        }
        return env;
    }
}
