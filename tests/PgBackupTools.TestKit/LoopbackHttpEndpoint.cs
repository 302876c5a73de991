using System.Collections.Concurrent;
using System.Net;

namespace PgBackupTools.TestKit;

/// <summary>One HTTP request as a loopback endpoint received it (<see cref="Headers"/>: all of them, names case-insensitive).</summary>
public sealed record RecordedRequest(string Method, string Path, string? Action, IReadOnlyDictionary<string, string> Parameters, string Body, string? Authorization, DateTimeOffset At,
    IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>
/// A tiny HTTP server on 127.0.0.1 and a free port (HttpListener), for speaking a cloud provider's wire protocol to the
/// real SDK or HttpClient in tests. Every request is recorded in order; the subclass answers it.
/// </summary>
public abstract class LoopbackHttpEndpoint : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();

    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";
    public IReadOnlyList<RecordedRequest> Requests => _requests.ToList();

    protected LoopbackHttpEndpoint()
    {
        Port = PgTestCluster.FindFreePort();
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync().ConfigureAwait(false); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (HttpListenerException) { return; }
            catch (ObjectDisposedException) { return; }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        try
        {
            string body;
            using (var reader = new StreamReader(context.Request.InputStream, context.Request.ContentEncoding)) body = await reader.ReadToEndAsync().ConfigureAwait(false);
            var request = Parse(context.Request, body);
            _requests.Enqueue(request);
            var (status, contentType, content, headers) = Answer(request);
            context.Response.StatusCode = status;
            context.Response.ContentType = contentType;
            foreach (var (k, v) in headers ?? new Dictionary<string, string>()) context.Response.Headers[k] = v;
            byte[] bytes = System.Text.Encoding.UTF8.GetBytes(content);
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            try
            {
                context.Response.StatusCode = 599;
                byte[] bytes = System.Text.Encoding.UTF8.GetBytes("endpoint failure: " + e);
                await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
            }
            catch (Exception) { }
        }
        finally
        {
            try { context.Response.Close(); } catch (Exception) { }
        }
    }

    /// <summary>By default the parameters are the query string's, plus "?" for the whole query.</summary>
    protected virtual RecordedRequest Parse(HttpListenerRequest request, string body)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["?"] = request.Url!.Query.TrimStart('?') };
        var query = System.Web.HttpUtility.ParseQueryString(request.Url.Query);
        foreach (var k in query.AllKeys) if (k is not null) parameters[k] = query[k]!;
        return new(request.HttpMethod, request.Url.AbsolutePath, null, parameters, body, request.Headers["Authorization"], DateTimeOffset.UtcNow, HeadersOf(request));
    }

    protected static IReadOnlyDictionary<string, string> HeadersOf(HttpListenerRequest request)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string? name in request.Headers.AllKeys) if (name is not null) headers[name] = request.Headers[name] ?? "";
        return headers;
    }

    /// <summary>Status, content type, body and extra headers of the answer to <paramref name="request"/>.</summary>
    protected abstract (int Status, string ContentType, string Body, IReadOnlyDictionary<string, string>? Headers) Answer(RecordedRequest request);

    public void Dispose()
    {
        _stop.Cancel();
        try { _listener.Stop(); _listener.Close(); } catch (Exception) { }
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (Exception) { }
        GC.SuppressFinalize(this);
    }
}
