using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.S3;
using Amazon.S3.Model;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Storage;

/// <summary>
/// A repository in an S3 bucket, or in any S3-compatible store through a custom endpoint with path-style addressing
/// (MinIO, Ceph RGW, Cloudflare R2, and Google Cloud Storage through its interoperability endpoint
/// https://storage.googleapis.com with HMAC keys). Credentials: explicit keys from New-PgRepository, else the SDK's
/// default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, container and instance roles).
/// Endpoint: the option, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL. Large objects go up as a multipart upload
/// with parts sent in parallel (bounded buffers), completed on commit and aborted on dispose without commit.
/// No request checksums beyond what S3 requires: the SHA-256 of every stored byte in the manifest is the check that
/// matters, and it is verified end to end on restore and by Test-PgBackup.
/// </summary>
public sealed class S3Store : IObjectStore, IDisposable
{
    private const int DefaultPartSize = 8 << 20;
    private readonly RepositoryLocation _location;
    private readonly PgRepository _options;
    private readonly string _endpointDescription;
    private readonly string? _storageClass, _serverSideEncryption, _kmsKeyId;
    private volatile bool _bucketSeen;

    /// <summary>
    /// What pgbt-wal, which has only the location on its command line, takes from the environment for the options
    /// New-PgRepository would give (a bucket policy may refuse a PUT without SSE; the seed stores STANDARD_IA).
    /// </summary>
    public const string StorageClassVariable = "PGBACKUPTOOLS_S3_STORAGE_CLASS", ServerSideEncryptionVariable = "PGBACKUPTOOLS_S3_SSE", KmsKeyIdVariable = "PGBACKUPTOOLS_S3_SSE_KMS_KEY_ID";

    internal IAmazonS3 Client { get; }

    static S3Store()
    {
        // Web identity (EKS service accounts, OIDC federation) calls STS through a client the SDK loads by reflection,
        // which Native AOT (pgbt-wal) trims away: register it. The call is anonymous: the token file is the credential.
        // Only under AOT, so the module keeps the SDK's own loading (which also serves role profiles with a source profile).
        if (!System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported)
            Amazon.RuntimeDependencies.GlobalRuntimeDependencyRegistry.Instance.RegisterSecurityTokenServiceClient(context =>
            {
                var config = new Amazon.SecurityToken.AmazonSecurityTokenServiceConfig();
                if (NullIfEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_STS")) is { } sts) config.ServiceURL = sts;
                else config.RegionEndpoint = context.SecurityTokenServiceClientContextData.Region ?? RegionEndpoint.USEast1;
                return new Amazon.SecurityToken.AmazonSecurityTokenServiceClient(new AnonymousAWSCredentials(), config);
            });
    }

    /// <summary>Lets tests watch the requests on the wire (e.g. that an upload was aborted, where an emulator cannot list uploads).</summary>
    internal static Amazon.Runtime.HttpClientFactory? HttpClientFactoryForTests { get; set; }
    public string Location { get; }
    public string Bucket => _location.Bucket!;

    public S3Store(RepositoryLocation location, PgRepository options)
    {
        _location = location;
        _options = options;
        Location = location.ToString();
        _storageClass = options.StorageClass ?? NullIfEmpty(Environment.GetEnvironmentVariable(StorageClassVariable));
        _serverSideEncryption = options.ServerSideEncryption ?? NullIfEmpty(Environment.GetEnvironmentVariable(ServerSideEncryptionVariable));
        _kmsKeyId = options.KmsKeyId ?? NullIfEmpty(Environment.GetEnvironmentVariable(KmsKeyIdVariable));
        string? endpoint = options.EndpointUrl
            ?? NullIfEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3"))
            ?? NullIfEmpty(Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL"));
        var config = new AmazonS3Config
        {
            MaxErrorRetry = options.MaxRetries ?? 3,
            Timeout = TimeSpan.FromMinutes(5),
            // WHEN_REQUIRED: no aws-chunked trailers (which some S3-compatible stores keep as data); our SHA-256 checks content.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        string? region = options.Region ?? NullIfEmpty(Environment.GetEnvironmentVariable("AWS_REGION")) ?? NullIfEmpty(Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION"));
        if (endpoint is not null)
        {
            config.ServiceURL = endpoint;
            config.ForcePathStyle = options.ForcePathStyle ?? true;
            config.AuthenticationRegion = region ?? "us-east-1";
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region ?? "us-east-1");
            config.ForcePathStyle = options.ForcePathStyle ?? false;
        }
        _endpointDescription = endpoint ?? "AWS " + (region ?? "us-east-1");
        if (HttpClientFactoryForTests is { } factory) config.HttpClientFactory = factory;
        Client = new AmazonS3Client(CreateCredentials(options, Location), config);
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static AWSCredentials CreateCredentials(PgRepository options, string location)
    {
        if (options.AccessKeyId is not null || options.SecretAccessKey is not null)
        {
            if (options.AccessKeyId is null || options.SecretAccessKey is null)
                throw new PgBackupException(FailureKind.InvalidArgument, "Give both the S3 access key id and the secret access key, or neither (then the AWS default credential chain is used).");
            string secret = SecureStrings.Reveal(options.SecretAccessKey);
            return options.SessionToken is null
                ? new BasicAWSCredentials(options.AccessKeyId, secret)
                : new SessionAWSCredentials(options.AccessKeyId, secret, SecureStrings.Reveal(options.SessionToken));
        }
        if (options.ProfileName is not null)
        {
            var chain = new Amazon.Runtime.CredentialManagement.CredentialProfileStoreChain();
            if (chain.TryGetAWSCredentials(options.ProfileName, out var profile)) return profile;
            throw new PgBackupException(FailureKind.InvalidArgument, $"The AWS profile '{options.ProfileName}' for the S3 store {location} was not found in the shared credentials or config file.", location);
        }
        try
        {
            return DefaultAWSCredentialsIdentityResolver.GetCredentials();
        }
        catch (AmazonClientException e)
        {
            throw new PgBackupException(FailureKind.PermissionDenied,
                $"No AWS credentials found for the S3 store {location}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, use an instance/container role, or give -AccessKeyId and -SecretAccessKey to New-PgRepository. ({e.Message})", location, e);
        }
    }

    private string ObjectName(string key) => _location.ObjectName(StorageKey.Validate(key));

    private int PartSize => _options.PartSizeBytes is int p && p >= 5 << 20 ? p : DefaultPartSize;
    private int MaxParallel => Math.Clamp(_options.MaxParallelParts ?? 4, 1, 64);

    /// <summary>Turns an SDK or network failure into one sentence that names the store and the cause.</summary>
    internal PgBackupException Fail(Exception e, string action, string? key)
    {
        string where = $"the S3 store {Location} at {_endpointDescription}";
        if (e is PgBackupException pg) return pg;
        if (e is AmazonS3Exception s3)
        {
            var (kind, cause) = (s3.StatusCode, s3.ErrorCode) switch
            {
                (_, "InvalidAccessKeyId") => (FailureKind.PermissionDenied, "the access key id is not known to the store (wrong credentials)"),
                (_, "SignatureDoesNotMatch") => (FailureKind.PermissionDenied, "the request signature does not match (wrong secret access key)"),
                (_, "NoSuchBucket") => (FailureKind.NotFound, $"the bucket '{Bucket}' does not exist; create it first"),
                (HttpStatusCode.Forbidden, _) => (FailureKind.PermissionDenied, $"access denied ({s3.ErrorCode}); check the credentials and the bucket policy"),
                _ => (FailureKind.OperationFailed, $"{(int)s3.StatusCode} {s3.ErrorCode}: {s3.Message}"),
            };
            return new PgBackupException(kind, $"Cannot {action} in {where}: {cause}.", key ?? Location, e);
        }
        if (FindInner<SocketException>(e) is { } socket || FindInner<HttpRequestException>(e) is { } || e is AmazonClientException && e.InnerException is IOException)
            return new PgBackupException(FailureKind.ConnectionFailed, $"Cannot {action} in {where}: the store cannot be reached ({Innermost(e).Message}). Check the endpoint and the network.", key ?? Location, e);
        return new PgBackupException(FailureKind.OperationFailed, $"Cannot {action} in {where}: {Innermost(e).Message}", key ?? Location, e);
    }

    private static T? FindInner<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException) if (e is T t) return t;
        return null;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    private async Task<T> Call<T>(string action, string? key, Func<Task<T>> call, CancellationToken ct)
    {
        try { return await call().ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            if (e is OperationCanceledException oce && oce.CancellationToken == ct) throw;
            throw Fail(e, action, key);
        }
    }

    public Task<ObjectWriteStream> CreateAsync(string key, bool overwrite, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult<ObjectWriteStream>(new S3Write(this, key, ObjectName(key), overwrite));
    }

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        string name = ObjectName(key);
        try
        {
            var response = await Client.GetObjectAsync(Bucket, name, cancellationToken).ConfigureAwait(false);
            return new ResponseStream(response);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
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
        string name = ObjectName(key);
        try
        {
            var meta = await Client.GetObjectMetadataAsync(Bucket, name, cancellationToken).ConfigureAwait(false);
            return new StoredObjectInfo(key, meta.ContentLength, meta.LastModified?.ToUniversalTime() ?? DateTimeOffset.MinValue);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            // HEAD has no body, so a missing bucket looks like a missing key; tell them apart for a clear error
            // (once per store: restore_command probes several names per WAL file, most of them absent).
            if (_bucketSeen) return null;
            if (!await BucketExistsAsync(cancellationToken).ConfigureAwait(false))
                throw Fail(new AmazonS3Exception("NoSuchBucket") { ErrorCode = "NoSuchBucket", StatusCode = HttpStatusCode.NotFound }, $"read '{key}'", key);
            _bucketSeen = true;
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Fail(e, $"read '{key}'", key);
        }
    }

    private async Task<bool> BucketExistsAsync(CancellationToken ct)
    {
        try
        {
            await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket, MaxKeys = 1 }, ct).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket") { return false; }
    }

    public async IAsyncEnumerable<StoredObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = _location.ListPrefix(prefix), MaxKeys = _options.ListPageSize ?? 1000 };
        int strip = _location.Prefix.Length == 0 ? 0 : _location.Prefix.Length + 1;
        while (true)
        {
            var page = await Call("list objects", prefix, () => Client.ListObjectsV2Async(request, cancellationToken), cancellationToken).ConfigureAwait(false);
            foreach (var o in page.S3Objects ?? [])
                yield return new StoredObjectInfo(o.Key[strip..], o.Size ?? 0, o.LastModified?.ToUniversalTime() ?? DateTimeOffset.MinValue);
            if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken)) yield break;
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken) =>
        Call($"delete '{key}'", key, () => Client.DeleteObjectAsync(Bucket, ObjectName(key), cancellationToken), cancellationToken);

    public string? TryGetLocalPath(string key) => null;

    /// <summary>Multipart uploads started under this repository and neither completed nor aborted (for tests and cleanup).</summary>
    public async Task<IReadOnlyList<string>> ListPendingUploadsAsync(CancellationToken cancellationToken)
    {
        var response = await Call("list multipart uploads", null,
            () => Client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = Bucket, Prefix = _location.ListPrefix("") }, cancellationToken), cancellationToken).ConfigureAwait(false);
        return (response.MultipartUploads ?? []).Select(u => u.Key).ToList();
    }

    public void Dispose() => Client.Dispose();

    private void Decorate(PutObjectRequest r)
    {
        if (_storageClass is { } sc) r.StorageClass = S3StorageClass.FindValue(sc);
        if (_serverSideEncryption is { } sse) r.ServerSideEncryptionMethod = ServerSideEncryptionMethod.FindValue(sse);
        if (_kmsKeyId is { } kms) r.ServerSideEncryptionKeyManagementServiceKeyId = kms;
        foreach (var (k, v) in _options.Metadata) r.Metadata[k] = v;
    }

    private void Decorate(InitiateMultipartUploadRequest r)
    {
        if (_storageClass is { } sc) r.StorageClass = S3StorageClass.FindValue(sc);
        if (_serverSideEncryption is { } sse) r.ServerSideEncryptionMethod = ServerSideEncryptionMethod.FindValue(sse);
        if (_kmsKeyId is { } kms) r.ServerSideEncryptionKeyManagementServiceKeyId = kms;
        foreach (var (k, v) in _options.Metadata) r.Metadata[k] = v;
    }

    private sealed class ResponseStream(GetObjectResponse response) : ForwardOnlyReadStream
    {
        private readonly Stream _inner = response.ResponseStream;
        public override bool CanRead => true;
        public override long Length => response.ContentLength;
        public override int Read(Span<byte> buffer) => _inner.Read(buffer);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => _inner.ReadAsync(buffer, offset, count, ct);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => _inner.ReadAsync(buffer, ct);
        protected override void Dispose(bool disposing)
        {
            if (disposing) response.Dispose();
            base.Dispose(disposing);
        }
    }

    private sealed class S3Write(S3Store store, string key, string objectName, bool overwrite)
        : PartedWriteStream(store.PartSize, store.MaxParallel)
    {
        private string? _uploadId;
        private readonly PartETag[] _etags = new PartETag[10000];

        protected override string Describe => $"'{key}' to {store.Location}";

        protected override async Task StartAsync(CancellationToken ct)
        {
            var request = new InitiateMultipartUploadRequest { BucketName = store.Bucket, Key = objectName };
            store.Decorate(request);
            var response = await store.Call($"write '{key}'", key, () => store.Client.InitiateMultipartUploadAsync(request, ct), ct).ConfigureAwait(false);
            _uploadId = response.UploadId;
        }

        protected override async Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            if (partNumber > 10000)
                throw new PgBackupException(FailureKind.OperationFailed, $"'{key}' needs more than 10,000 parts: raise the part size (New-PgRepository -PartSizeMB).", key);
            using var body = new ReadOnlyMemoryStream(data);
            var request = new UploadPartRequest
            {
                BucketName = store.Bucket, Key = objectName, UploadId = _uploadId, PartNumber = partNumber, InputStream = body, PartSize = data.Length,
                UseChunkEncoding = false,
            };
            var response = await store.Call($"write '{key}' (part {partNumber})", key, () => store.Client.UploadPartAsync(request, ct), ct).ConfigureAwait(false);
            _etags[partNumber - 1] = new PartETag(partNumber, response.ETag);
        }

        protected override async Task CompleteAsync(int partCount, CancellationToken ct)
        {
            await ThrowIfExistsAsync(ct).ConfigureAwait(false);
            var request = new CompleteMultipartUploadRequest
            {
                BucketName = store.Bucket, Key = objectName, UploadId = _uploadId, PartETags = _etags.Take(partCount).ToList(),
                IfNoneMatch = overwrite ? null : "*",
            };
            await Conditional(() => store.Client.CompleteMultipartUploadAsync(request, ct), ct).ConfigureAwait(false);
            _uploadId = null;
        }

        protected override async Task PutSingleAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            await ThrowIfExistsAsync(ct).ConfigureAwait(false);
            using var body = new ReadOnlyMemoryStream(data);
            var request = new PutObjectRequest
            {
                BucketName = store.Bucket, Key = objectName, InputStream = body, AutoCloseStream = false, UseChunkEncoding = false,
                IfNoneMatch = overwrite ? null : "*",
            };
            store.Decorate(request);
            await Conditional(() => store.Client.PutObjectAsync(request, ct), ct).ConfigureAwait(false);
        }

        // No-overwrite is a conditional write (If-None-Match: *), which S3 (since August 2024) and recent S3-compatible
        // stores make atomic: of two racing writers exactly one commits. Stores that ignore the header (s3rver; older S3-compatible
        // stores) are still checked by this HEAD just before the commit, which leaves only a narrow race there.
        private async Task ThrowIfExistsAsync(CancellationToken ct)
        {
            if (!overwrite && await store.GetInfoAsync(key, ct).ConfigureAwait(false) is not null)
                throw new ObjectAlreadyExistsException(store.Location, key);
        }

        private async Task Conditional<T>(Func<Task<T>> write, CancellationToken ct)
        {
            try { await write().ConfigureAwait(false); }
            // 412: the key exists; 409 ConditionalRequestConflict: another conditional write of the key is in flight
            // (whichever wins, this one did not: the caller compares content, or retries).
            catch (AmazonS3Exception e) when (!overwrite && (e.StatusCode == HttpStatusCode.PreconditionFailed || e.ErrorCode == "ConditionalRequestConflict"))
            {
                throw new ObjectAlreadyExistsException(store.Location, key);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (e is OperationCanceledException oce && oce.CancellationToken == ct) throw;
                throw store.Fail(e, $"write '{key}'", key);
            }
        }

        protected override async Task AbortAsync()
        {
            if (_uploadId is null) return;
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await store.Client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = store.Bucket, Key = objectName, UploadId = _uploadId }, timeout.Token).ConfigureAwait(false);
                _uploadId = null;
            }
            catch (Exception) { /* the bucket's lifecycle rule for incomplete uploads is the backstop */ }
        }
    }
}

/// <summary>A read-only, seekable stream over memory the caller keeps alive (the SDKs rewind it on retries).</summary>
internal sealed class ReadOnlyMemoryStream(ReadOnlyMemory<byte> data) : Stream
{
    private int _position;
    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => data.Length;
    public override long Position { get => _position; set => _position = (int)Math.Clamp(value, 0, data.Length); }
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, data.Length - _position);
        data.Span.Slice(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => Task.FromResult(Read(buffer.AsSpan(offset, count)));
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(Read(buffer.Span));
    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => data.Length + offset };
        return _position;
    }
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Reads a SecureString at the last moment, for an SDK that needs the plain value.</summary>
internal static class SecureStrings
{
    public static string Reveal(System.Security.SecureString value) => new System.Net.NetworkCredential("", value).Password;
}
