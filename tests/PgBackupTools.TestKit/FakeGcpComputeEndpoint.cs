using System.Text.Json.Nodes;
using System.Web;

namespace PgBackupTools.TestKit;

/// <summary>
/// The Compute Engine v1 JSON API for the calls persistent-disk snapshots use (disks.createSnapshot, snapshots.get/
/// list/delete, disks.insert/get, zone and global operations.wait), plus an OAuth token endpoint (POST /token) a
/// service-account key's token_uri can point at. Base path /compute/v1/. requestId is honoured: a repeated request
/// returns the first one's operation. Snapshots go CREATING -> UPLOADING -> READY as they are read.
/// </summary>
public sealed class FakeGcpComputeEndpoint : LoopbackHttpEndpoint
{
    private readonly object _gate = new();
    private readonly Dictionary<string, JsonObject> _snapshots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _reads = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JsonObject> _disks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JsonObject> _operationsByRequest = new(StringComparer.Ordinal);
    private int _next;
    private int _throttle;

    public string ComputeBase => Endpoint + "/compute/v1/";
    public string TokenUri => Endpoint + "/token";
    public const string AccessToken = "ya29.pgbt-fake-token";

    public Action<string, string>? OnCreateSnapshot { get; set; }
    public HashSet<string> FailingDisks { get; } = new(StringComparer.Ordinal);
    public int ReadsToComplete { get; set; } = 3;
    public IReadOnlyCollection<JsonObject> Snapshots { get { lock (_gate) return _snapshots.Values.Select(s => (JsonObject)s.DeepClone()).ToList(); } }
    public IReadOnlyCollection<JsonObject> Disks { get { lock (_gate) return _disks.Values.Select(s => (JsonObject)s.DeepClone()).ToList(); } }

    /// <summary>Answers the next <paramref name="count"/> compute requests with 429 rateLimitExceeded.</summary>
    public void Throttle(int count) => Interlocked.Exchange(ref _throttle, count);

    protected override (int, string, string, IReadOnlyDictionary<string, string>?) Answer(RecordedRequest r)
    {
        if (r.Path == "/token") return Json(200, new JsonObject { ["access_token"] = AccessToken, ["expires_in"] = 3600, ["token_type"] = "Bearer" });
        if (Interlocked.Decrement(ref _throttle) >= 0)
            return (429, "application/json", Error(429, "rateLimitExceeded", "Rate Limit Exceeded").ToJsonString(), new Dictionary<string, string> { ["Retry-After"] = "0" });
        var query = HttpUtility.ParseQueryString(r.Parameters.GetValueOrDefault("?") ?? "");
        string[] p = r.Path.Replace("/compute/v1/", "").Trim('/').Split('/');
        lock (_gate)
        {
            // projects/{p}/zones/{z}/disks/{d}/createSnapshot
            if (r.Method == "POST" && p.Length == 7 && p[2] == "zones" && p[4] == "disks" && p[6] == "createSnapshot")
            {
                string disk = p[5], zone = p[3];
                if (FailingDisks.Contains(disk)) return Json(400, Error(400, "resourceNotReady", $"The resource 'projects/{p[1]}/zones/{zone}/disks/{disk}' is not ready"));
                return Operation(query["requestId"], "createSnapshot", () =>
                {
                    var body = JsonNode.Parse(r.Body)!.AsObject();
                    string name = body["name"]!.GetValue<string>();
                    OnCreateSnapshot?.Invoke(disk, name);
                    var snap = new JsonObject
                    {
                        ["name"] = name, ["status"] = "CREATING", ["sourceDisk"] = $"projects/{p[1]}/zones/{zone}/disks/{disk}",
                        ["creationTimestamp"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffzzz"), ["diskSizeGb"] = "10",
                        ["description"] = body["description"]?.DeepClone(), ["labels"] = body["labels"]?.DeepClone() ?? new JsonObject(),
                    };
                    _snapshots[name] = snap;
                    _reads[name] = 0;
                    return $"projects/{p[1]}/global/snapshots/{name}";
                });
            }
            // projects/{p}/global/snapshots[/{name}]
            if (p.Length >= 4 && p[2] == "global" && p[3] == "snapshots")
            {
                if (p.Length == 4 && r.Method == "GET")
                {
                    string filter = query["filter"] ?? "";
                    var items = _snapshots.Values.Where(s => MatchesFilter(s, filter)).Select(s => s.DeepClone()).ToArray();
                    return Json(200, new JsonObject { ["items"] = new JsonArray(items) });
                }
                string name = p[4];
                if (!_snapshots.TryGetValue(name, out var snap)) return Json(404, Error(404, "notFound", $"The resource 'projects/{p[1]}/global/snapshots/{name}' was not found"));
                if (r.Method == "GET")
                {
                    int reads = ++_reads[name];
                    if (snap["status"]!.GetValue<string>() != "READY")
                        snap["status"] = reads >= ReadsToComplete ? "READY" : "UPLOADING";
                    return Json(200, snap.DeepClone());
                }
                if (r.Method == "DELETE")
                    return Operation(query["requestId"], "delete", () => { _snapshots.Remove(name); return $"projects/{p[1]}/global/snapshots/{name}"; }, done: false);
            }
            // projects/{p}/zones/{z}/disks (insert) and disks/{d} (get)
            if (p.Length >= 5 && p[2] == "zones" && p[4] == "disks")
            {
                if (p.Length == 5 && r.Method == "POST")
                {
                    return Operation(query["requestId"], "insert", () =>
                    {
                        var body = JsonNode.Parse(r.Body)!.AsObject();
                        string name = body["name"]!.GetValue<string>();
                        string source = body["sourceSnapshot"]!.GetValue<string>();
                        _disks[name] = new JsonObject { ["name"] = name, ["zone"] = p[3], ["sourceSnapshot"] = source, ["status"] = "READY", ["sizeGb"] = "10", ["labels"] = body["labels"]?.DeepClone() };
                        return $"projects/{p[1]}/zones/{p[3]}/disks/{name}";
                    }, done: false);
                }
                if (p.Length == 6 && r.Method == "GET")
                    return _disks.TryGetValue(p[5], out var d) ? Json(200, d.DeepClone()) : Json(404, Error(404, "notFound", "disk not found"));
            }
            // .../operations/{op}/wait
            if (r.Method == "POST" && p.Length >= 3 && p[^1] == "wait" && p[^3] == "operations")
            {
                var op = _operationsByRequest.Values.FirstOrDefault(o => o["name"]!.GetValue<string>() == p[^2]);
                if (op is null) return Json(404, Error(404, "notFound", "operation not found"));
                op["status"] = "DONE";
                return Json(200, op.DeepClone());
            }
        }
        return Json(400, Error(400, "badRequest", $"fake: no route for {r.Method} {r.Path}"));
    }

    private (int, string, string, IReadOnlyDictionary<string, string>?) Operation(string? requestId, string type, Func<string> act, bool done = true)
    {
        if (requestId is not null && _operationsByRequest.TryGetValue(requestId, out var seen)) return Json(200, seen.DeepClone());
        string target = act();
        var op = new JsonObject { ["kind"] = "compute#operation", ["name"] = $"operation-{++_next}", ["operationType"] = type, ["targetLink"] = target, ["status"] = done ? "DONE" : "RUNNING" };
        _operationsByRequest[requestId ?? Guid.NewGuid().ToString()] = op;
        return Json(200, op.DeepClone());
    }

    private static bool MatchesFilter(JsonObject snapshot, string filter)
    {
        foreach (var clause in filter.Split(" AND ", StringSplitOptions.RemoveEmptyEntries))
        {
            var labels = snapshot["labels"]?.AsObject();
            if (clause.EndsWith(":*", StringComparison.Ordinal))
            {
                if (labels?.ContainsKey(clause["labels.".Length..^2]) != true) return false;
            }
            else
            {
                var parts = clause.Split('=', 2);
                string key = parts[0]["labels.".Length..], value = parts[1].Trim('"');
                if (labels?[key]?.GetValue<string>() != value) return false;
            }
        }
        return true;
    }

    private static JsonObject Error(int code, string reason, string message) =>
        new() { ["error"] = new JsonObject { ["code"] = code, ["message"] = message, ["errors"] = new JsonArray(new JsonObject { ["reason"] = reason, ["message"] = message }) } };

    private static (int, string, string, IReadOnlyDictionary<string, string>?) Json(int status, JsonNode body) => (status, "application/json", body.ToJsonString(), null);
}
