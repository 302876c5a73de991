using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Apis.Auth.OAuth2;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Snapshots;

/// <summary>
/// GCP persistent-disk snapshots through the Compute Engine v1 REST API (Google.Cloud.Compute.V1 is not on the package
/// mirror): disks.createSnapshot with labels and a requestId (a UUID derived from the set's token, so a retried call is
/// the same request), zone/global operations waited with operations.wait, snapshots.list with a label filter,
/// snapshots.delete, and disks.insert with sourceSnapshot. Credentials: Google application default credentials
/// (GOOGLE_APPLICATION_CREDENTIALS service-account file, gcloud user, or the metadata server). 429 and 5xx are retried
/// with backoff (Retry-After honoured).
/// GCP labels allow only lowercase letters, digits, '-' and '_': tags are written as labels in that form for
/// filtering, and exactly as given, as JSON, in the snapshot's description, which is what is read back.
/// </summary>
public sealed class GcpDiskSnapshotProvider : ISnapshotProvider
{
    public const string DefaultEndpoint = "https://compute.googleapis.com/compute/v1/";
    private const string Scope = "https://www.googleapis.com/auth/compute";
    private readonly HttpClient _http;
    private readonly ITokenAccess _credential;
    private readonly string _project;
    private readonly string? _zone;
    private readonly string _base;
    private readonly TimeSpan _maxPoll;
    private readonly string? _endpoint;

    public SnapshotProvider Kind => SnapshotProvider.Gcp;
    public string Location { get; }

    public GcpDiskSnapshotProvider(SnapshotTarget target, GoogleCredential? credential = null)
    {
        _project = target.Project ?? NullIfEmpty(Environment.GetEnvironmentVariable("GOOGLE_CLOUD_PROJECT"))
            ?? throw new PgBackupException(FailureKind.InvalidArgument, "Give -Project (the GCP project of the disks), or set GOOGLE_CLOUD_PROJECT.");
        _zone = target.Zone;
        _base = (target.Endpoint ?? DefaultEndpoint).TrimEnd('/') + "/";
        _maxPoll = target.MaxPollInterval;
        _endpoint = target.Endpoint;
        Location = $"GCP project {_project}" + (_zone is null ? "" : $" zone {_zone}") + (target.Endpoint is null ? "" : $" at {target.Endpoint}");
        _credential = credential?.CreateScoped(Scope) ?? LoadDefaultCredential();
        _http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static ITokenAccess LoadDefaultCredential()
    {
        try
        {
            return GoogleCredential.GetApplicationDefault().CreateScoped(Scope);
        }
        // GetApplicationDefault waits on a task: its InvalidOperationException may arrive inside an AggregateException.
        catch (Exception e) when (e is InvalidOperationException or AggregateException { InnerException: InvalidOperationException })
        {
            var cause = e is AggregateException { InnerException: { } inner } ? inner : e;
            throw new PgBackupException(FailureKind.PermissionDenied,
                $"No GCP credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, run 'gcloud auth application-default login', or run on GCP with a service account. ({cause.Message})", null, cause);
        }
    }

    public void Dispose() => _http.Dispose();

    private string RequireZone() => _zone ?? throw new PgBackupException(FailureKind.InvalidArgument, "Give -Zone: the GCP zone of the disks.");

    public async Task<PgVolumeSnapshot> CreateSnapshotAsync(string volumeId, IReadOnlyDictionary<string, string> tags, string requestToken, CancellationToken cancellationToken)
    {
        string zone = RequireZone();
        var allTags = new Dictionary<string, string>(tags) { [SnapshotTags.Request] = requestToken };
        string name = SnapshotName(requestToken);
        var body = new JsonObject
        {
            ["name"] = name,
            ["description"] = JsonSerializer.Serialize(allTags, SnapshotJsonContext.Default.DictionaryStringString),
            ["labels"] = Labels(allTags),
        };
        var op = await SendAsync(HttpMethod.Post, $"projects/{_project}/zones/{zone}/disks/{Uri.EscapeDataString(volumeId)}/createSnapshot?requestId={RequestId(requestToken)}",
            body, $"create a snapshot of disk {volumeId}", volumeId, cancellationToken).ConfigureAwait(false);
        CheckOperation(op!, $"create a snapshot of disk {volumeId}", volumeId);
        var snapshot = new PgVolumeSnapshot
        {
            Provider = SnapshotProvider.Gcp, SnapshotId = name, VolumeId = volumeId, State = "CREATING", StartTime = DateTimeOffset.UtcNow,
            Location = Location, Region = _zone, Project = _project, Endpoint = _endpoint, BackupId = tags.GetValueOrDefault(SnapshotTags.BackupId),
        };
        foreach (var (k, v) in allTags) snapshot.Tags[k] = v;
        return snapshot;
    }

    /// <summary>GCP: the data is captured once the snapshot leaves CREATING (UPLOADING or READY); writes may go on from then.</summary>
    public async Task<PgVolumeSnapshot> WaitForPointInTimeAsync(PgVolumeSnapshot snapshot, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            var json = await SendAsync(HttpMethod.Get, $"projects/{_project}/global/snapshots/{snapshot.SnapshotId}", null, $"read snapshot {snapshot.SnapshotId}",
                snapshot.VolumeId, cancellationToken, notFoundIsNull: true).ConfigureAwait(false);
            if (json is not null)
            {
                var current = ToSnapshot(json);
                if (current.State != "CREATING") return current;
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _maxPoll.Ticks));
        }
    }

    public async Task<PgVolumeSnapshot> GetSnapshotAsync(string snapshotId, CancellationToken cancellationToken)
    {
        var json = await SendAsync(HttpMethod.Get, $"projects/{_project}/global/snapshots/{snapshotId}", null, $"read snapshot {snapshotId}", snapshotId, cancellationToken, notFoundIsNull: true).ConfigureAwait(false)
            ?? throw new PgBackupException(FailureKind.NotFound, $"Snapshot {snapshotId} does not exist in {Location}.", snapshotId);
        return ToSnapshot(json);
    }

    public async Task<IReadOnlyList<PgVolumeSnapshot>> ListSnapshotsAsync(IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken)
    {
        string filter = string.Join(" AND ", tags.Select(t => string.IsNullOrEmpty(t.Value) ? $"labels.{t.Key}:*" : $"labels.{t.Key}=\"{LabelValue(t.Value)}\""));
        var result = new List<PgVolumeSnapshot>();
        string? page = null;
        do
        {
            string path = $"projects/{_project}/global/snapshots?filter={Uri.EscapeDataString(filter)}" + (page is null ? "" : "&pageToken=" + Uri.EscapeDataString(page));
            var json = await SendAsync(HttpMethod.Get, path, null, "list snapshots", null, cancellationToken).ConfigureAwait(false);
            foreach (var item in json!["items"]?.AsArray() ?? []) result.Add(ToSnapshot(item!));
            page = json["nextPageToken"]?.GetValue<string>();
        } while (!string.IsNullOrEmpty(page));
        // Labels are lowercased: the exact values (from the description) decide.
        return result.Where(s => tags.All(t => s.Tags.TryGetValue(t.Key, out var v) && (t.Value.Length == 0 || v == t.Value))).ToList();
    }

    public async Task DeleteSnapshotAsync(string snapshotId, CancellationToken cancellationToken)
    {
        var op = await SendAsync(HttpMethod.Delete, $"projects/{_project}/global/snapshots/{snapshotId}?requestId={RequestId("delete-" + snapshotId)}", null,
            $"delete snapshot {snapshotId}", snapshotId, cancellationToken, notFoundIsNull: true).ConfigureAwait(false);
        if (op is null) return;
        op = await WaitOperationAsync(op, $"projects/{_project}/global/operations", cancellationToken).ConfigureAwait(false);
        CheckOperation(op, $"delete snapshot {snapshotId}", snapshotId);
    }

    public async Task<PgVolume> CreateVolumeAsync(PgVolumeSnapshot snapshot, string zone, IReadOnlyDictionary<string, string> tags, string requestToken, CancellationToken cancellationToken)
    {
        string name = DiskName(snapshot.SnapshotId, requestToken);
        var body = new JsonObject
        {
            ["name"] = name,
            ["sourceSnapshot"] = $"projects/{_project}/global/snapshots/{snapshot.SnapshotId}",
            ["labels"] = Labels(tags),
        };
        var op = await SendAsync(HttpMethod.Post, $"projects/{_project}/zones/{zone}/disks?requestId={RequestId(requestToken)}", body,
            $"create a disk from snapshot {snapshot.SnapshotId} in {zone}", snapshot.SnapshotId, cancellationToken).ConfigureAwait(false);
        op = await WaitOperationAsync(op!, $"projects/{_project}/zones/{zone}/operations", cancellationToken).ConfigureAwait(false);
        CheckOperation(op, $"create a disk from snapshot {snapshot.SnapshotId} in {zone}", snapshot.SnapshotId);
        var disk = await SendAsync(HttpMethod.Get, $"projects/{_project}/zones/{zone}/disks/{name}", null, $"read disk {name}", name, cancellationToken).ConfigureAwait(false);
        var volume = new PgVolume
        {
            Provider = SnapshotProvider.Gcp, VolumeId = name, SnapshotId = snapshot.SnapshotId, Zone = zone,
            State = disk!["status"]?.GetValue<string>() ?? "", BackupId = snapshot.BackupId,
            SizeGiB = long.TryParse(disk["sizeGb"]?.ToString(), out long gb) ? gb : null,
        };
        foreach (var (k, v) in tags) volume.Tags[k] = v;
        return volume;
    }

    private async Task<JsonNode> WaitOperationAsync(JsonNode op, string operations, CancellationToken cancellationToken)
    {
        while (op["status"]?.GetValue<string>() != "DONE")
        {
            string name = op["name"]!.GetValue<string>();
            // operations.wait returns when the operation is DONE or after about two minutes.
            op = (await SendAsync(HttpMethod.Post, $"{operations}/{name}/wait", null, $"wait for operation {name}", name, cancellationToken).ConfigureAwait(false))!;
        }
        return op;
    }

    private void CheckOperation(JsonNode op, string what, string? target)
    {
        if (op["error"]?["errors"]?.AsArray() is { Count: > 0 } errors)
        {
            string detail = string.Join("; ", errors.Select(e => $"{e?["code"]}: {e?["message"]}"));
            throw new PgBackupException(FailureKind.OperationFailed, $"Could not {what} in {Location}: {detail}", target);
        }
    }

    private PgVolumeSnapshot ToSnapshot(JsonNode json)
    {
        string status = json["status"]?.GetValue<string>() ?? "";
        var s = new PgVolumeSnapshot
        {
            Provider = SnapshotProvider.Gcp,
            SnapshotId = json["name"]?.GetValue<string>() ?? "",
            VolumeId = (json["sourceDisk"]?.GetValue<string>() ?? "").Split('/').Last(),
            State = status,
            Completed = status == "READY",
            Failed = status == "FAILED",
            Progress = status switch { "READY" => 100, "UPLOADING" => 50, _ => 0 },
            StartTime = DateTimeOffset.TryParse(json["creationTimestamp"]?.GetValue<string>(), out var t) ? t : default,
            Location = Location,
            Region = _zone,
            Project = _project,
            Endpoint = _endpoint,
            VolumeSizeGiB = long.TryParse(json["diskSizeGb"]?.ToString(), out long gb) ? gb : null,
        };
        try
        {
            if (JsonSerializer.Deserialize(json["description"]?.GetValue<string>() ?? "", SnapshotJsonContext.Default.DictionaryStringString) is { } tags)
                foreach (var (k, v) in tags) s.Tags[k] = v;
        }
        catch (JsonException)
        {
            foreach (var (k, v) in json["labels"]?.AsObject() ?? []) s.Tags[k] = v?.GetValue<string>() ?? "";
        }
        s.BackupId = s.Tags.GetValueOrDefault(SnapshotTags.BackupId);
        return s;
    }

    private static JsonObject Labels(IReadOnlyDictionary<string, string> tags)
    {
        var labels = new JsonObject();
        foreach (var (k, v) in tags)
        {
            string key = LabelValue(k);
            if (key.Length == 0 || !char.IsAsciiLetterLower(key[0])) continue;
            labels[key] = LabelValue(v);
        }
        return labels;
    }

    private static string LabelValue(string v)
    {
        var sb = new StringBuilder(v.Length);
        foreach (char c in v.ToLowerInvariant()) sb.Append(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_' ? c : '_');
        return sb.Length > 63 ? sb.ToString(0, 63) : sb.ToString();
    }

    /// <summary>A resource name GCP accepts ([a-z]([-a-z0-9]{0,61}[a-z0-9])?), deterministic per token.</summary>
    private static string SnapshotName(string token) => ResourceName("pgbt-" + token);

    private static string DiskName(string snapshot, string token) => ResourceName($"{snapshot}-r{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)))[..8]}");

    private static string ResourceName(string raw)
    {
        var sb = new StringBuilder();
        foreach (char c in raw.ToLowerInvariant()) sb.Append(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) ? c : '-');
        string name = sb.ToString();
        if (name.Length > 63) name = name[..54] + "-" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(raw)))[..8].ToLowerInvariant();
        return name.TrimEnd('-');
    }

    /// <summary>The UUID GCP wants as requestId, derived from the token: a retry is recognised as the same request.</summary>
    internal static string RequestId(string token)
    {
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        hash[6] = (byte)(hash[6] & 0x0F | 0x50);
        hash[8] = (byte)(hash[8] & 0x3F | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true).ToString();
    }

    private async Task<JsonNode?> SendAsync(HttpMethod method, string path, JsonNode? body, string what, string? target, CancellationToken cancellationToken, bool notFoundIsNull = false)
    {
        var delay = TimeSpan.FromSeconds(1);
        for (int attempt = 1; ; attempt++)
        {
            string token;
            try
            {
                token = await _credential.GetAccessTokenForRequestAsync(_base, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
            {
                throw new PgBackupException(FailureKind.PermissionDenied, $"Could not get a GCP access token to {what}: {e.Message}", target, e);
            }
            using var request = new HttpRequestMessage(method, _base + path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
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
            using (response)
            {
                string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text);
                if (response.StatusCode == HttpStatusCode.NotFound && notFoundIsNull) return null;
                if ((response.StatusCode == HttpStatusCode.TooManyRequests || (int)response.StatusCode >= 500) && attempt < 6)
                {
                    var wait = response.Headers.RetryAfter?.Delta ?? delay;
                    await Task.Delay(wait < TimeSpan.FromMinutes(1) ? wait : TimeSpan.FromMinutes(1), cancellationToken).ConfigureAwait(false);
                    delay *= 2;
                    continue;
                }
                string message = text;
                try { message = JsonNode.Parse(text)?["error"]?["message"]?.GetValue<string>() ?? text; } catch (JsonException) { }
                var kind = response.StatusCode switch
                {
                    HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => FailureKind.PermissionDenied,
                    HttpStatusCode.NotFound => FailureKind.NotFound,
                    _ => FailureKind.OperationFailed,
                };
                throw new PgBackupException(kind, $"Could not {what} in {Location}: HTTP {(int)response.StatusCode}: {message}", target);
            }
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class SnapshotJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
