using System.Text.Json.Nodes;

namespace PgBackupTools.TestKit;

/// <summary>
/// Azure Resource Manager's JSON API for the calls managed-disk snapshots use: GET/PUT disks, PUT/GET/DELETE snapshots,
/// the subscription's snapshot list, and long-running operations behind Azure-AsyncOperation (InProgress on the first
/// read, then Succeeded). A snapshot's completionPercent climbs with each read until 100. Disks to snapshot are
/// registered with <see cref="AddDisk"/>.
/// It also serves the managed-identity token endpoint Azure Automation, App Service and Functions give a process through
/// IDENTITY_ENDPOINT and IDENTITY_HEADER (API version 2019-08-01; the secret in the X-IDENTITY-HEADER header; the
/// resource in the query), so Azure.Identity's own ManagedIdentityCredential gets a token over loopback http. With
/// <see cref="RequireIssuedToken"/>, ARM calls that do not carry that token are refused with 401.
/// </summary>
public sealed class FakeArmEndpoint : LoopbackHttpEndpoint
{
    private readonly object _gate = new();
    private readonly Dictionary<string, JsonObject> _resources = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, int> _operations = new(StringComparer.Ordinal);
    private int _next;
    private int _throttle;

    public Action<string, string>? OnCreateSnapshot { get; set; }
    public HashSet<string> FailingDisks { get; } = new(StringComparer.OrdinalIgnoreCase);
    public IReadOnlyCollection<JsonObject> Snapshots { get { lock (_gate) return _resources.Values.Where(r => r["type"]!.GetValue<string>() == "Microsoft.Compute/snapshots").Select(r => (JsonObject)r.DeepClone()).ToList(); } }
    public IReadOnlyCollection<JsonObject> Disks { get { lock (_gate) return _resources.Values.Where(r => r["type"]!.GetValue<string>() == "Microsoft.Compute/disks").Select(r => (JsonObject)r.DeepClone()).ToList(); } }

    public void Throttle(int count) => Interlocked.Exchange(ref _throttle, count);

    /// <summary>The value for IDENTITY_ENDPOINT.</summary>
    public string IdentityEndpoint => Endpoint + IdentityPath;
    /// <summary>The value for IDENTITY_HEADER: the secret a token request must carry in X-IDENTITY-HEADER.</summary>
    public string IdentityHeader { get; } = "pgbt-identity-header-" + Guid.NewGuid().ToString("N");
    /// <summary>The access token the identity endpoint issues (unique per endpoint, so a test can look for it in any output).</summary>
    public string IssuedToken { get; } = "pgbt-mi-token-" + Guid.NewGuid().ToString("N");
    public bool RequireIssuedToken { get; set; }
    private const string IdentityPath = "/msi/token";

    /// <summary>The token requests the identity endpoint received.</summary>
    public IReadOnlyList<RecordedRequest> TokenRequests => Requests.Where(r => r.Path == IdentityPath).ToList();
    /// <summary>The ARM requests (everything but token requests), in order.</summary>
    public IReadOnlyList<RecordedRequest> ArmRequests => Requests.Where(r => r.Path != IdentityPath).ToList();

    public string AddDisk(string subscription, string resourceGroup, string name, string location)
    {
        string id = $"/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/disks/{name}";
        lock (_gate) _resources[id] = new JsonObject { ["id"] = id, ["name"] = name, ["type"] = "Microsoft.Compute/disks", ["location"] = location, ["properties"] = new JsonObject { ["provisioningState"] = "Succeeded", ["diskSizeGB"] = 64 } };
        return id;
    }

    protected override (int, string, string, IReadOnlyDictionary<string, string>?) Answer(RecordedRequest r)
    {
        if (Interlocked.Decrement(ref _throttle) >= 0)
            return (429, "application/json", Error("TooManyRequests", "The request is being throttled.").ToJsonString(), new Dictionary<string, string> { ["Retry-After"] = "0" });
        if (r.Path == IdentityPath) return IssueToken(r);
        if (RequireIssuedToken && r.Authorization != "Bearer " + IssuedToken)
            return Json(401, Error("InvalidAuthenticationToken", "The access token is missing or invalid."));
        string path = r.Path.TrimEnd('/');
        lock (_gate)
        {
            if (path.StartsWith("/operations/", StringComparison.Ordinal))
            {
                string id = path["/operations/".Length..];
                int reads = ++_operations[id];
                return Json(200, new JsonObject { ["name"] = id, ["status"] = reads >= 2 ? "Succeeded" : "InProgress" });
            }
            var p = path.Trim('/').Split('/');
            if (r.Method == "GET" && p.Length == 5 && p[4] == "snapshots")
                return Json(200, new JsonObject { ["value"] = new JsonArray(_resources.Values.Where(x => x["type"]!.GetValue<string>() == "Microsoft.Compute/snapshots").Select(x => x.DeepClone()).ToArray()) });
            if (p.Length != 8) return Json(400, Error("InvalidResourceId", $"fake: no route for {r.Method} {r.Path}"));
            string type = p[6];
            switch (r.Method)
            {
                case "GET":
                    if (!_resources.TryGetValue(path, out var found)) return Json(404, Error("ResourceNotFound", $"The Resource '{path}' was not found."));
                    if (type == "snapshots" && found["properties"]!["provisioningState"]!.GetValue<string>() == "Succeeded")
                    {
                        double percent = found["properties"]!["completionPercent"]?.GetValue<double>() ?? 0;
                        found["properties"]!["completionPercent"] = Math.Min(100, percent + 50);
                    }
                    return Json(200, found.DeepClone());
                case "PUT":
                {
                    if (_resources.TryGetValue(path, out var existing)) return Json(200, existing.DeepClone()); // PUT is idempotent by name
                    var body = JsonNode.Parse(r.Body)!.AsObject();
                    string source = body["properties"]!["creationData"]!["sourceResourceId"]!.GetValue<string>();
                    if (!_resources.ContainsKey(source)) return Json(404, Error("NotFound", $"Resource {source} is not found."));
                    if (FailingDisks.Contains(source)) return Json(409, Error("OperationNotAllowed", $"Disk {source} is being resized; snapshots are not allowed now."));
                    if (type == "snapshots") OnCreateSnapshot?.Invoke(source, path);
                    var resource = new JsonObject
                    {
                        ["id"] = path, ["name"] = p[7], ["type"] = $"Microsoft.Compute/{type}", ["location"] = body["location"]?.DeepClone(), ["tags"] = body["tags"]?.DeepClone() ?? new JsonObject(),
                        ["properties"] = new JsonObject
                        {
                            ["creationData"] = body["properties"]!["creationData"]!.DeepClone(), ["provisioningState"] = "Succeeded", ["diskSizeGB"] = 64,
                            ["timeCreated"] = DateTimeOffset.UtcNow.ToString("O"), ["incremental"] = body["properties"]!["incremental"]?.DeepClone(),
                        },
                    };
                    _resources[path] = resource;
                    var answer = (JsonObject)resource.DeepClone();
                    answer["properties"]!["provisioningState"] = "Creating";
                    return (201, "application/json", answer.ToJsonString(), OperationHeader());
                }
                case "DELETE":
                    if (!_resources.Remove(path)) return (204, "application/json", "", null);
                    return (202, "application/json", "", OperationHeader());
            }
        }
        return Json(400, Error("BadRequest", $"fake: no route for {r.Method} {r.Path}"));
    }

    private (int, string, string, IReadOnlyDictionary<string, string>?) IssueToken(RecordedRequest r)
    {
        if (r.Method != "GET") return Json(405, new JsonObject { ["error"] = "invalid_request", ["error_description"] = "GET only." });
        if (r.Headers?.GetValueOrDefault("X-IDENTITY-HEADER") != IdentityHeader)
            return Json(401, new JsonObject { ["error"] = "unauthorized_client", ["error_description"] = "X-IDENTITY-HEADER is missing or wrong." });
        if (r.Parameters.GetValueOrDefault("api-version") != "2019-08-01")
            return Json(400, new JsonObject { ["error"] = "invalid_request", ["error_description"] = "api-version must be 2019-08-01." });
        string? resource = r.Parameters.GetValueOrDefault("resource");
        if (string.IsNullOrEmpty(resource))
            return Json(400, new JsonObject { ["error"] = "invalid_request", ["error_description"] = "resource is required." });
        return Json(200, new JsonObject
        {
            ["access_token"] = IssuedToken, ["expires_on"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["resource"] = resource, ["token_type"] = "Bearer", ["client_id"] = "00000000-0000-0000-0000-00000000c11e",
        });
    }

    private Dictionary<string, string> OperationHeader()
    {
        string id = $"op-{++_next}";
        _operations[id] = 0;
        return new Dictionary<string, string> { ["Azure-AsyncOperation"] = $"{Endpoint}/operations/{id}" };
    }

    private static JsonObject Error(string code, string message) => new() { ["error"] = new JsonObject { ["code"] = code, ["message"] = message } };

    private static (int, string, string, IReadOnlyDictionary<string, string>?) Json(int status, JsonNode body) => (status, "application/json", body.ToJsonString(), null);
}
