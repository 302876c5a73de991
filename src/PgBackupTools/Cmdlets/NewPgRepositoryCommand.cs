using System.Collections;
using System.Management.Automation;
using System.Security;
using PgBackupTools.Core.Storage;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Describes a repository with the options its location string cannot hold (endpoint, region, storage class,
/// encryption at rest, access tier, credentials). The object goes to any -Repository parameter; its options are
/// remembered for its location in this session, so backups piped from Get-PgBackup find them again. Nothing is
/// contacted or created here: Invoke-PgBackup creates the repository on first use.
/// </summary>
[Cmdlet(VerbsCommon.New, "PgRepository")]
[OutputType(typeof(PgRepository))]
public sealed class NewPgRepositoryCommand : PSCmdlet
{
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Location { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? EndpointUrl { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Region { get; set; }

    [Parameter]
    public SwitchParameter ForcePathStyle { get; set; }

    [Parameter]
    [ValidateSet("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY")]
    public string? StorageClass { get; set; }

    [Parameter]
    [ValidateSet("AES256", "aws:kms", "aws:kms:dsse")]
    public string? ServerSideEncryption { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KmsKeyId { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ProfileName { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? AccessKeyId { get; set; }

    [Parameter]
    [ValidateNotNull]
    public SecureString? SecretAccessKey { get; set; }

    [Parameter]
    [ValidateNotNull]
    public SecureString? SessionToken { get; set; }

    /// <summary>S3: access key id as user name, secret as password; Azure: account name as user name, account key as password.</summary>
    [Parameter]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    [Parameter]
    [ValidateNotNull]
    public SecureString? StorageConnectionString { get; set; }

    [Parameter]
    [ValidateNotNull]
    public SecureString? SasToken { get; set; }

    [Parameter]
    [ValidateNotNull]
    public SecureString? AccountKey { get; set; }

    [Parameter]
    [ValidateSet("Hot", "Cool", "Cold", "Archive")]
    public string? AccessTier { get; set; }

    [Parameter]
    [ValidateNotNull]
    public Hashtable? Metadata { get; set; }

    [Parameter]
    [ValidateRange(5, 4096)]
    public int? PartSizeMB { get; set; }

    [Parameter]
    [ValidateRange(1, 64)]
    public int? MaxParallelParts { get; set; }

    [Parameter]
    [ValidateRange(1, 5000)]
    public int? ListPageSize { get; set; }

    [Parameter]
    [ValidateRange(0, 20)]
    public int? MaxRetries { get; set; }

    protected override void ProcessRecord()
    {
        PgRepository repository;
        try
        {
            var parsed = RepositoryLocation.Parse(Location.Contains("://", StringComparison.Ordinal) ? Location : GetUnresolvedProviderPathFromPSPath(Location));
            repository = new PgRepository
            {
                Location = parsed.ToString(),
                StoreKind = parsed.Kind,
                EndpointUrl = EndpointUrl,
                Region = Region,
                ForcePathStyle = MyInvocation.BoundParameters.ContainsKey(nameof(ForcePathStyle)) ? ForcePathStyle.IsPresent : null,
                StorageClass = StorageClass,
                ServerSideEncryption = ServerSideEncryption,
                KmsKeyId = KmsKeyId,
                ProfileName = ProfileName,
                AccessKeyId = AccessKeyId,
                SecretAccessKey = SecretAccessKey,
                SessionToken = SessionToken,
                ConnectionString = StorageConnectionString,
                SasToken = SasToken,
                AccountKey = AccountKey,
                AccessTier = AccessTier,
                PartSizeBytes = PartSizeMB * (1 << 20),
                MaxParallelParts = MaxParallelParts,
                ListPageSize = ListPageSize,
                MaxRetries = MaxRetries,
            };
            if (Credential is not null)
            {
                if (parsed.Kind == RepositoryStoreKind.S3)
                {
                    repository.AccessKeyId = Credential.UserName;
                    repository.SecretAccessKey = Credential.Password;
                }
                else repository.AccountKey = Credential.Password;
            }
            foreach (DictionaryEntry e in Metadata ?? new Hashtable()) repository.Metadata[e.Key.ToString()!] = e.Value?.ToString() ?? "";
            Validate(repository, parsed);
            repository.CredentialSource = DescribeCredentials(repository);
            ObjectStoreFactory.Register(repository);
        }
        catch (Core.Errors.PgBackupException e)
        {
            ThrowTerminatingError(new ErrorRecord(e, "InvalidRepository", ErrorCategory.InvalidArgument, Location));
            return;
        }
        WriteVerbose($"Repository {repository.Location} ({repository.StoreKind}, credentials: {repository.CredentialSource}).");
        WriteObject(repository);
    }

    private void Validate(PgRepository r, RepositoryLocation parsed)
    {
        string[] s3Only = [nameof(Region), nameof(ForcePathStyle), nameof(StorageClass), nameof(ServerSideEncryption), nameof(KmsKeyId), nameof(ProfileName), nameof(AccessKeyId), nameof(SecretAccessKey), nameof(SessionToken)];
        string[] azureOnly = [nameof(StorageConnectionString), nameof(SasToken), nameof(AccountKey), nameof(AccessTier)];
        string[] objectOnly = [.. s3Only, .. azureOnly, nameof(EndpointUrl), nameof(Credential), nameof(Metadata), nameof(PartSizeMB), nameof(MaxParallelParts), nameof(ListPageSize), nameof(MaxRetries)];
        string[] wrong = parsed.Kind switch
        {
            RepositoryStoreKind.FileSystem => objectOnly,
            RepositoryStoreKind.S3 => azureOnly,
            _ => s3Only,
        };
        var given = wrong.Where(MyInvocation.BoundParameters.ContainsKey).ToList();
        if (given.Count > 0)
            throw new Core.Errors.PgBackupException(Core.Errors.FailureKind.InvalidArgument,
                $"-{string.Join(", -", given)} {(given.Count == 1 ? "does" : "do")} not apply to a {parsed.Kind} repository ({r.Location}).", Location);
        if (EndpointUrl is not null && !Uri.TryCreate(EndpointUrl, UriKind.Absolute, out _))
            throw new Core.Errors.PgBackupException(Core.Errors.FailureKind.InvalidArgument, $"-EndpointUrl '{EndpointUrl}' is not an absolute URL (for example http://127.0.0.1:9000).", EndpointUrl);
        if (KmsKeyId is not null && ServerSideEncryption is null) r.ServerSideEncryption = "aws:kms";
    }

    private static string DescribeCredentials(PgRepository r) => r.StoreKind switch
    {
        RepositoryStoreKind.FileSystem => "file system",
        RepositoryStoreKind.S3 when r.AccessKeyId is not null => "explicit access key",
        RepositoryStoreKind.S3 when r.ProfileName is not null => $"AWS profile '{r.ProfileName}'",
        RepositoryStoreKind.S3 => "AWS default chain",
        _ when r.ConnectionString is not null => "connection string",
        _ when r.SasToken is not null => "SAS token",
        _ when r.AccountKey is not null => "account key",
        _ => "environment (AZURE_STORAGE_*) or DefaultAzureCredential",
    };
}
