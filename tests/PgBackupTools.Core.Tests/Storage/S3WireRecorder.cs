using System.Collections.Concurrent;
using Amazon.Runtime;

namespace PgBackupTools.Core.Tests.Storage;

/// <summary>
/// Records S3 multipart requests on the wire. s3rver implements neither ListMultipartUploads nor AbortMultipartUpload
/// (it answers 405), so "no upload left pending" is proven by what the store sent: every initiated upload of a key
/// was followed by a complete or an abort request for it.
/// </summary>
public sealed class S3WireRecorder : HttpClientFactory
{
    public static readonly S3WireRecorder Instance = new();
    private readonly ConcurrentDictionary<string, int> _open = new();

    public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Recorder(this, new SocketsHttpHandler()));
    public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;
    public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

    private readonly ConcurrentDictionary<string, string> _commitConditions = new();

    /// <summary>The If-None-Match header of the last commit (single PUT or multipart complete) of a bucket/key path; "" for none.</summary>
    public string? CommitCondition(string path) => _commitConditions.TryGetValue(path, out var c) ? c : null;

    /// <summary>Keys under <paramref name="prefix"/> (bucket/key path) with an upload neither completed nor aborted.</summary>
    public IReadOnlyList<string> Pending(string prefix) => _open.Where(kv => kv.Value > 0 && kv.Key.StartsWith(prefix, StringComparison.Ordinal)).Select(kv => kv.Key).ToList();

    private sealed class Recorder(S3WireRecorder owner, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var uri = request.RequestUri!;
            string path = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
            string query = uri.Query;
            int delta = 0;
            if (request.Method == HttpMethod.Post && query.Contains("uploads")) delta = +1;
            else if (request.Method == HttpMethod.Delete && query.Contains("uploadId=")) delta = -1;
            bool commit = request.Method == HttpMethod.Put && !query.Contains("partNumber=") || request.Method == HttpMethod.Post && query.Contains("uploadId=");
            if (commit) owner._commitConditions[path] = request.Headers.TryGetValues("If-None-Match", out var v) ? string.Join(",", v) : "";
            var response = await base.SendAsync(request, cancellationToken);
            if (request.Method == HttpMethod.Post && query.Contains("uploadId=") && response.IsSuccessStatusCode) delta = -1;
            if (delta > 0 && response.IsSuccessStatusCode || delta < 0) owner._open.AddOrUpdate(path, delta, (_, v) => v + delta);
            return response;
        }
    }
}
