using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Storage;

/// <summary>
/// A repository in an Azure Blob Storage container (az://account/container/prefix). Credentials, first found wins:
/// New-PgRepository's connection string, SAS token or account key; AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN,
/// AZURE_STORAGE_KEY; else Azure.Identity's DefaultAzureCredential (managed identity in Azure Automation, workload
/// identity, environment, Azure CLI). Large objects are staged as blocks in parallel and committed with one block list
/// on commit: uncommitted blocks are invisible and expire after a week, so an aborted write leaves nothing listed.
/// </summary>
public sealed class AzureBlobStore : IObjectStore
{
    private const int DefaultPartSize = 8 << 20;
    private readonly RepositoryLocation _location;
    private readonly PgRepository _options;
    private readonly string _endpointDescription;

    /// <summary>The access tier pgbt-wal (which has only the location on its command line) takes from the environment.</summary>
    public const string AccessTierVariable = "PGBACKUPTOOLS_AZURE_ACCESS_TIER";

    internal BlobContainerClient Container { get; }
    public string Location { get; }

    public AzureBlobStore(RepositoryLocation location, PgRepository options)
    {
        _location = location;
        _options = options;
        Location = location.ToString();
        var clientOptions = new BlobClientOptions();
        clientOptions.Retry.MaxRetries = options.MaxRetries ?? 3;
        clientOptions.Retry.Delay = TimeSpan.FromMilliseconds(500);
        clientOptions.Retry.NetworkTimeout = TimeSpan.FromMinutes(5);
        string account = location.Account!;
        string? endpoint = options.EndpointUrl ?? Env("AZURE_STORAGE_BLOB_ENDPOINT");
        var serviceUri = new Uri((endpoint ?? $"https://{account}.blob.core.windows.net").TrimEnd('/') + "/");
        var containerUri = new Uri(serviceUri, Uri.EscapeDataString(location.Container!));
        _endpointDescription = endpoint ?? serviceUri.Host;

        if (options.ConnectionString is not null)
            Container = new BlobContainerClient(SecureStrings.Reveal(options.ConnectionString), location.Container, clientOptions);
        else if (options.SasToken is not null)
            Container = new BlobContainerClient(containerUri, new AzureSasCredential(SecureStrings.Reveal(options.SasToken).TrimStart('?')), clientOptions);
        else if (options.AccountKey is not null)
            Container = new BlobContainerClient(containerUri, new StorageSharedKeyCredential(account, SecureStrings.Reveal(options.AccountKey)), clientOptions);
        else if (Env("AZURE_STORAGE_CONNECTION_STRING") is { } cs)
            Container = new BlobContainerClient(cs, location.Container, clientOptions);
        else if (Env("AZURE_STORAGE_SAS_TOKEN") is { } sas)
            Container = new BlobContainerClient(containerUri, new AzureSasCredential(sas.TrimStart('?')), clientOptions);
        else if (Env("AZURE_STORAGE_KEY") is { } key)
            Container = new BlobContainerClient(containerUri, new StorageSharedKeyCredential(account, key), clientOptions);
        else if (containerUri.Scheme != Uri.UriSchemeHttps)
            // The SDK refuses a token over plain http with an ArgumentException, which would crash pgbt-wal.
            throw new PgBackupException(FailureKind.PermissionDenied,
                $"No Azure credential for the Azure Blob store {Location} at {_endpointDescription}: Azure AD identities (managed identity, workload identity) need an https endpoint. " +
                "Set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_KEY in the environment, or give New-PgRepository a connection string, SAS token or account key.", Location);
        else
            Container = new BlobContainerClient(containerUri, new DefaultAzureCredential(), clientOptions);
        if (options.ConnectionString is not null || (options.SasToken is null && options.AccountKey is null && Env("AZURE_STORAGE_CONNECTION_STRING") is not null))
            _endpointDescription = Container.Uri.GetLeftPart(UriPartial.Authority);
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private string BlobName(string key) => _location.ObjectName(StorageKey.Validate(key));
    private int PartSize => _options.PartSizeBytes is int p && p >= 1 << 20 ? p : DefaultPartSize;
    private int MaxParallel => Math.Clamp(_options.MaxParallelParts ?? 4, 1, 64);

    internal PgBackupException Fail(Exception e, string action, string? key)
    {
        string where = $"the Azure Blob store {Location} at {_endpointDescription}";
        if (e is PgBackupException pg) return pg;
        if (e is RequestFailedException r)
        {
            var (kind, cause) = (r.Status, r.ErrorCode) switch
            {
                (_, "ContainerNotFound") => (FailureKind.NotFound, $"the container '{_location.Container}' does not exist; create it first"),
                (_, "AuthenticationFailed") => (FailureKind.PermissionDenied, "authentication failed (wrong account key, SAS token or connection string)"),
                (403, _) => (FailureKind.PermissionDenied, $"access denied ({r.ErrorCode}): wrong credentials (account key, SAS token or connection string), an expired SAS, or an identity without a Storage Blob Data role"),
                (0, _) => (FailureKind.ConnectionFailed, $"the store cannot be reached ({Innermost(e).Message}). Check the endpoint and the network"),
                _ => (FailureKind.OperationFailed, $"{r.Status} {r.ErrorCode}: {FirstLine(r.Message)}"),
            };
            return new PgBackupException(kind, $"Cannot {action} in {where}: {cause}.", key ?? Location, e);
        }
        if (e is AuthenticationFailedException or CredentialUnavailableException)
            return new PgBackupException(FailureKind.PermissionDenied,
                $"Cannot {action} in {where}: no usable Azure credential ({FirstLine(e.Message)}). Give New-PgRepository a connection string, SAS token or account key, set AZURE_STORAGE_CONNECTION_STRING, or enable a managed identity.", key ?? Location, e);
        if (FindInner<SocketException>(e) is not null || FindInner<HttpRequestException>(e) is not null || e is AggregateException)
            return new PgBackupException(FailureKind.ConnectionFailed, $"Cannot {action} in {where}: the store cannot be reached ({Innermost(e).Message}). Check the endpoint and the network.", key ?? Location, e);
        return new PgBackupException(FailureKind.OperationFailed, $"Cannot {action} in {where}: {Innermost(e).Message}", key ?? Location, e);
    }

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    private static T? FindInner<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T t) return t;
            if (e is AggregateException a && a.InnerExceptions.Count > 0 && FindInner<T>(a.InnerExceptions[0]) is { } inner) return inner;
        }
        return null;
    }

    private static Exception Innermost(Exception e)
    {
        while (true)
        {
            if (e is AggregateException a && a.InnerExceptions.Count > 0) e = a.InnerExceptions[^1];
            else if (e.InnerException is not null) e = e.InnerException;
            else return e;
        }
    }

    internal async Task<T> Call<T>(string action, string? key, Func<Task<T>> call, CancellationToken ct)
    {
        try { return await call().ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            throw Fail(e, action, key);
        }
    }

    public Task<ObjectWriteStream> CreateAsync(string key, bool overwrite, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult<ObjectWriteStream>(new AzureWrite(this, key, Container.GetBlockBlobClient(BlobName(key)), overwrite));
    }

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var response = await Container.GetBlobClient(BlobName(key)).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return response.Value.Content;
        }
        catch (RequestFailedException e) when (e.ErrorCode == "BlobNotFound")
        {
            throw new ObjectNotFoundException(Location, key);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Fail(e, $"read '{key}'", key);
        }
    }

    public async Task<StoredObjectInfo?> GetInfoAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var props = await Container.GetBlobClient(BlobName(key)).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return new StoredObjectInfo(key, props.Value.ContentLength, props.Value.LastModified);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // HEAD has no body: tell a missing container from a missing blob for a clear error.
            if (!await Call("read the container", key, () => Container.ExistsAsync(cancellationToken), cancellationToken).ConfigureAwait(false))
                throw Fail(new RequestFailedException(404, "container not found", "ContainerNotFound", null), $"read '{key}'", key);
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Fail(e, $"read '{key}'", key);
        }
    }

    public async IAsyncEnumerable<StoredObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        int strip = _location.Prefix.Length == 0 ? 0 : _location.Prefix.Length + 1;
        string? continuation = null;
        do
        {
            var page = await Call("list blobs", prefix, async () =>
            {
                await foreach (var p in Container.GetBlobsAsync(BlobTraits.None, BlobStates.None, _location.ListPrefix(prefix), cancellationToken)
                                   .AsPages(continuation, _options.ListPageSize ?? 1000).ConfigureAwait(false))
                    return p;
                return null;
            }, cancellationToken).ConfigureAwait(false);
            if (page is null) yield break;
            foreach (var b in page.Values)
                yield return new StoredObjectInfo(b.Name[strip..], b.Properties.ContentLength ?? 0, b.Properties.LastModified ?? DateTimeOffset.MinValue);
            continuation = page.ContinuationToken;
        } while (!string.IsNullOrEmpty(continuation));
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken) =>
        Call($"delete '{key}'", key, () => Container.GetBlobClient(BlobName(key)).DeleteIfExistsAsync(cancellationToken: cancellationToken), cancellationToken);

    public string? TryGetLocalPath(string key) => null;

    private sealed class AzureWrite(AzureBlobStore store, string key, BlockBlobClient blob, bool overwrite)
        : PartedWriteStream(store.PartSize, store.MaxParallel)
    {
        private readonly string _batch = Guid.NewGuid().ToString("N")[..8];
        protected override string Describe => $"'{key}' to {store.Location}";

        // Block ids must have one length per blob; a batch id keeps two writers' blocks apart.
        private string BlockId(int n) => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{_batch}-{n:D6}"));

        private BlobRequestConditions? Conditions => overwrite ? null : new BlobRequestConditions { IfNoneMatch = ETag.All };

        protected override Task StartAsync(CancellationToken ct) => Task.CompletedTask;

        protected override async Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            using var body = new ReadOnlyMemoryStream(data);
            await store.Call($"write '{key}' (block {partNumber})", key, () => blob.StageBlockAsync(BlockId(partNumber), body, cancellationToken: ct), ct).ConfigureAwait(false);
        }

        protected override Task CompleteAsync(int partCount, CancellationToken ct) =>
            Commit(() => blob.CommitBlockListAsync(Enumerable.Range(1, partCount).Select(BlockId), new CommitBlockListOptions
            {
                Conditions = Conditions, Metadata = Metadata, AccessTier = Tier,
            }, ct), ct);

        protected override Task PutSingleAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            var body = new ReadOnlyMemoryStream(data);
            return Commit(() => blob.UploadAsync(body, new BlobUploadOptions { Conditions = Conditions, Metadata = Metadata, AccessTier = Tier }, ct), ct);
        }

        private Dictionary<string, string>? Metadata => store._options.Metadata.Count == 0 ? null : store._options.Metadata;
        private AccessTier? Tier => (store._options.AccessTier ?? Env(AccessTierVariable)) is { } t ? new AccessTier(t) : (AccessTier?)null; // a bare null would convert through AccessTier(string)

        private async Task Commit<T>(Func<Task<T>> call, CancellationToken ct)
        {
            try { await call().ConfigureAwait(false); }
            catch (RequestFailedException e) when (!overwrite && e.Status is 409 or 412 && e.ErrorCode is "BlobAlreadyExists" or "ConditionNotMet")
            {
                throw new ObjectAlreadyExistsException(store.Location, key);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                throw store.Fail(e, $"write '{key}'", key);
            }
        }

        // Uncommitted blocks are invisible and the service drops them after seven days; there is no call to drop them sooner
        // without a committed blob.
        protected override Task AbortAsync() => Task.CompletedTask;
    }
}
