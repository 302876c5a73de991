using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Core;
using Azure.Identity;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// Azure managed-disk snapshots through the ARM REST API (a current Azure.ResourceManager.Compute is not on the package
/// mirror): PUT Microsoft.Compute/snapshots with creationData Copy from the disk, incremental, tags; the long-running
/// operation followed through Azure-AsyncOperation (else provisioningState); DELETE; PUT disks from a snapshot.
/// Idempotency: ARM PUTs are idempotent by resource name, and the name derives from the set's token. Credentials:
/// DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI). 429 and 5xx are retried
/// with backoff (Retry-After honoured). VolumeId and SnapshotId are resource ids.
/// </summary>
public sealed class AzureDiskSnapshotProvider : ISnapshotProvider
{
    public const string DefaultEndpoint = "https://management.azure.com/";
    private const string ApiVersion = "2023-10-02";
    private readonly HttpClient _http;
    private readonly TokenCredential _credential;
    private readonly string _base;
    private readonly string[] _scopes;
    private readonly string? _subscription;
    private readonly string? _resourceGroup;
    private readonly TimeSpan _maxPoll;
    private readonly string? _endpoint;

    public SnapshotProvider Kind => SnapshotProvider.Azure;
    public string Location { get; }

    public AzureDiskSnapshotProvider(SnapshotTarget target, TokenCredential? credential = null)
    {
        _base = (target.Endpoint ?? DefaultEndpoint).TrimEnd('/');
        _scopes = [(target.Endpoint is null ? DefaultEndpoint : _base + "/") + ".default"];
        _subscription = target.SubscriptionId ?? NullIfEmpty(Environment.GetEnvironmentVariable("AZURE_SUBSCRIPTION_ID"));
        _resourceGroup = target.ResourceGroup;
        _maxPoll = target.MaxPollInterval;
        _endpoint = target.Endpoint;
        Location = "Azure" + (_subscription is null ? "" : $" subscription {_subscription}") + (target.Endpoint is null ? "" : $" at {target.Endpoint}");
        _credential = credential ?? new DefaultAzureCredential();
        _http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    public void Dispose() => _http.Dispose();

    public async Task<PgVolumeSnapshot> CreateSnapshotAsync(string volumeId, IReadOnlyDictionary<string, string> tags, string requestToken, CancellationToken cancellationToken)
    {
        var disk = ResourceId.Parse(volumeId, "disks");
        var diskJson = await SendAsync(HttpMethod.Get, volumeId, null, $"read disk {volumeId}", volumeId, cancellationToken).ConfigureAwait(false);
        string region = diskJson!["location"]!.GetValue<string>();
        string id = $"/subscriptions/{_subscription ?? disk.Subscription}/resourceGroups/{_resourceGroup ?? disk.ResourceGroup}/providers/Microsoft.Compute/snapshots/{ResourceName(requestToken)}";
        var allTags = new Dictionary<string, string>(tags) { [SnapshotTags.Request] = requestToken };
        var tagJson = new JsonObject();
        foreach (var (k, v) in allTags) tagJson[k] = v;
        var body = new JsonObject
        {
            ["location"] = region,
            ["tags"] = tagJson,
            ["properties"] = new JsonObject
            {
                ["creationData"] = new JsonObject { ["createOption"] = "Copy", ["sourceResourceId"] = volumeId },
                ["incremental"] = true,
            },
        };
        var created = await SendAsync(HttpMethod.Put, id, body, $"create a snapshot of disk {volumeId}", volumeId, cancellationToken, followOperation: true).ConfigureAwait(false);
        var snapshot = ToSnapshot(created ?? await SendAsync(HttpMethod.Get, id, null, $"read snapshot {id}", volumeId, cancellationToken).ConfigureAwait(false) ?? new JsonObject());
        snapshot.SnapshotId = id;
        snapshot.VolumeId = volumeId;
        foreach (var (k, v) in allTags) snapshot.Tags.TryAdd(k, v);
        snapshot.BackupId = snapshot.Tags.GetValueOrDefault(SnapshotTags.BackupId);
        return snapshot;
    }

    /// <summary>Azure: the snapshot is a point-in-time copy once its creation succeeded (the PUT's long-running operation, followed above).</summary>
    public async Task<PgVolumeSnapshot> WaitForPointInTimeAsync(PgVolumeSnapshot snapshot, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            var current = await GetSnapshotAsync(snapshot.SnapshotId, cancellationToken).ConfigureAwait(false);
            if (current.State is "Succeeded" or "Failed") return current;
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _maxPoll.Ticks));
        }
    }

    public async Task<PgVolumeSnapshot> GetSnapshotAsync(string snapshotId, CancellationToken cancellationToken)
    {
        var json = await SendAsync(HttpMethod.Get, snapshotId, null, $"read snapshot {snapshotId}", snapshotId, cancellationToken, notFoundIsNull: true).ConfigureAwait(false)
            ?? throw new PgBackupException(FailureKind.NotFound, $"Snapshot {snapshotId} does not exist in {Location}.", snapshotId);
        return ToSnapshot(json);
    }

    public async Task<IReadOnlyList<PgVolumeSnapshot>> ListSnapshotsAsync(IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken)
    {
        string subscription = _subscription ?? throw new PgBackupException(FailureKind.InvalidArgument, "Give -SubscriptionId (or set AZURE_SUBSCRIPTION_ID) to list Azure snapshots.");
        string? next = _resourceGroup is null
            ? $"/subscriptions/{subscription}/providers/Microsoft.Compute/snapshots"
            : $"/subscriptions/{subscription}/resourceGroups/{_resourceGroup}/providers/Microsoft.Compute/snapshots";
        var result = new List<PgVolumeSnapshot>();
        while (next is not null)
        {
            var json = await SendAsync(HttpMethod.Get, next, null, "list snapshots", null, cancellationToken).ConfigureAwait(false);
            foreach (var item in json!["value"]?.AsArray() ?? []) result.Add(ToSnapshot(item!));
            next = json["nextLink"]?.GetValue<string>();
        }
        return result.Where(s => tags.All(t => s.Tags.TryGetValue(t.Key, out var v) && (t.Value.Length == 0 || v == t.Value))).ToList();
    }

    public Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, snapshotId, null, $"delete snapshot {snapshotId}", snapshotId, cancellationToken, notFoundIsNull: true, followOperation: true);

    public async Task<PgVolume> CreateVolumeAsync(PgVolumeSnapshot snapshot, string zone, IReadOnlyDictionary<string, string> tags, string requestToken, CancellationToken cancellationToken)
    {
        var source = ResourceId.Parse(snapshot.SnapshotId, "snapshots");
        string id = $"/subscriptions/{_subscription ?? source.Subscription}/resourceGroups/{_resourceGroup ?? source.ResourceGroup}/providers/Microsoft.Compute/disks/{ResourceName(requestToken)}";
        var tagJson = new JsonObject();
        foreach (var (k, v) in tags) tagJson[k] = v;
        var body = new JsonObject
        {
            ["location"] = zone,
            ["tags"] = tagJson,
            ["properties"] = new JsonObject { ["creationData"] = new JsonObject { ["createOption"] = "Copy", ["sourceResourceId"] = snapshot.SnapshotId } },
        };
        await SendAsync(HttpMethod.Put, id, body, $"create a disk from snapshot {snapshot.SnapshotId} in {zone}", snapshot.SnapshotId, cancellationToken, followOperation: true).ConfigureAwait(false);
        var disk = await SendAsync(HttpMethod.Get, id, null, $"read disk {id}", id, cancellationToken).ConfigureAwait(false);
        var volume = new PgVolume
        {
            Provider = SnapshotProvider.Azure, VolumeId = id, SnapshotId = snapshot.SnapshotId, Zone = zone, BackupId = snapshot.BackupId,
            State = disk!["properties"]?["provisioningState"]?.GetValue<string>() ?? "",
            SizeGiB = disk["properties"]?["diskSizeGB"]?.GetValue<long>(),
        };
        foreach (var (k, v) in tags) volume.Tags[k] = v;
        return volume;
    }

    private PgVolumeSnapshot ToSnapshot(JsonNode json)
    {
        var props = json["properties"];
        string state = props?["provisioningState"]?.GetValue<string>() ?? "";
        double? percent = props?["completionPercent"]?.GetValue<double>();
        var s = new PgVolumeSnapshot
        {
            Provider = SnapshotProvider.Azure,
            SnapshotId = json["id"]?.GetValue<string>() ?? "",
            VolumeId = props?["creationData"]?["sourceResourceId"]?.GetValue<string>() ?? "",
            State = state,
            Failed = state == "Failed",
            Completed = state == "Succeeded" && (percent is null || percent >= 100),
            Progress = state == "Succeeded" ? (int)(percent ?? 100) : 0,
            StartTime = DateTimeOffset.TryParse(props?["timeCreated"]?.GetValue<string>(), out var t) ? t : default,
            Location = Location,
            Region = json["location"]?.GetValue<string>(),
            Endpoint = _endpoint,
            VolumeSizeGiB = props?["diskSizeGB"]?.GetValue<long>(),
        };
        foreach (var (k, v) in json["tags"]?.AsObject() ?? []) s.Tags[k] = v?.GetValue<string>() ?? "";
        s.BackupId = s.Tags.GetValueOrDefault(SnapshotTags.BackupId);
        return s;
    }

    private static string ResourceName(string token)
    {
        var sb = new StringBuilder("pgbt-");
        foreach (char c in token) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-');
        return sb.Length <= 80 ? sb.ToString() : sb.ToString(0, 70) + "-" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)))[..8];
    }

    private readonly record struct ResourceId(string Subscription, string ResourceGroup, string Name)
    {
        public static ResourceId Parse(string id, string type)
        {
            var p = id.Trim('/').Split('/');
            if (p.Length != 8 || !p[0].Equals("subscriptions", StringComparison.OrdinalIgnoreCase) || !p[2].Equals("resourceGroups", StringComparison.OrdinalIgnoreCase)
                || !p[6].Equals(type, StringComparison.OrdinalIgnoreCase))
                throw new PgBackupException(FailureKind.InvalidArgument, $"'{id}' is not an Azure {type} resource id (/subscriptions/…/resourceGroups/…/providers/Microsoft.Compute/{type}/…).", id);
            return new ResourceId(p[1], p[3], p[7]);
        }
    }

    private async Task<JsonNode?> SendAsync(HttpMethod method, string pathOrUrl, JsonNode? body, string what, string? target, CancellationToken cancellationToken,
        bool notFoundIsNull = false, bool followOperation = false)
    {
        string url = pathOrUrl.StartsWith("http", StringComparison.OrdinalIgnoreCase) ? pathOrUrl
            : _base + pathOrUrl + (pathOrUrl.Contains('?') ? "&" : "?") + "api-version=" + ApiVersion;
        using var response = await SendRawAsync(method, url, body, what, target, cancellationToken).ConfigureAwait(false);
        string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound && notFoundIsNull) return null;
        if (!response.IsSuccessStatusCode) throw Failure(response.StatusCode, text, what, target);
        if (followOperation && response.Headers.TryGetValues("Azure-AsyncOperation", out var ops) && ops.FirstOrDefault() is { } op)
        {
            var delay = TimeSpan.FromMilliseconds(500);
            while (true)
            {
                using var status = await SendRawAsync(HttpMethod.Get, op, null, what, target, cancellationToken).ConfigureAwait(false);
                string statusText = await status.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (!status.IsSuccessStatusCode) throw Failure(status.StatusCode, statusText, what, target);
                var json = JsonNode.Parse(statusText);
                string state = json?["status"]?.GetValue<string>() ?? "";
                if (state == "Succeeded") break;
                if (state is "Failed" or "Canceled")
                    throw new PgBackupException(FailureKind.OperationFailed, $"Could not {what} in {Location}: the operation {state.ToLowerInvariant()}: {json?["error"]?["code"]}: {json?["error"]?["message"]}", target);
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _maxPoll.Ticks));
            }
            return method == HttpMethod.Delete ? null : await SendAsync(HttpMethod.Get, pathOrUrl, null, what, target, cancellationToken).ConfigureAwait(false);
        }
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string url, JsonNode? body, string what, string? target, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        for (int attempt = 1; ; attempt++)
        {
            AccessToken token;
            try
            {
                token = await _credential.GetTokenAsync(new TokenRequestContext(_scopes), cancellationToken).ConfigureAwait(false);
            }
            catch (AuthenticationFailedException e)
            {
                throw new PgBackupException(FailureKind.PermissionDenied,
                    $"Could not get an Azure token to {what}: {e.Message} Sign in with a managed identity, workload identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or 'az login'.", target, e);
            }
            using var request = new HttpRequestMessage(method, url);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Token);
            if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (attempt < 6)
            {
                _ = e;
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay *= 2;
                continue;
            }
            catch (HttpRequestException e)
            {
                throw new PgBackupException(FailureKind.ConnectionFailed, $"Could not {what} in {Location}: {e.Message}", target, e);
            }
            if ((response.StatusCode == HttpStatusCode.TooManyRequests || (int)response.StatusCode >= 500) && attempt < 6)
            {
                var wait = response.Headers.RetryAfter?.Delta ?? delay;
                response.Dispose();
                await Task.Delay(wait < TimeSpan.FromMinutes(1) ? wait : TimeSpan.FromMinutes(1), cancellationToken).ConfigureAwait(false);
                delay *= 2;
                continue;
            }
            return response;
        }
    }

    private PgBackupException Failure(HttpStatusCode status, string text, string what, string? target)
    {
        string message = text;
        try { var e = JsonNode.Parse(text)?["error"]; if (e is not null) message = $"{e["code"]}: {e["message"]}"; } catch (JsonException) { }
        var kind = status switch
        {
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => FailureKind.PermissionDenied,
            HttpStatusCode.NotFound => FailureKind.NotFound,
            _ => FailureKind.OperationFailed,
        };
        return new PgBackupException(kind, $"Could not {what} in {Location}: HTTP {(int)status}: {message}", target);
    }
}
