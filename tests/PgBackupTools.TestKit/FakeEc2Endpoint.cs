using System.Net;
using System.Security;
using System.Web;

namespace PgBackupTools.TestKit;

/// <summary>
/// EC2's Query/XML protocol for the calls EBS snapshots use (CreateSnapshot, DescribeSnapshots, DeleteSnapshot,
/// CreateVolume, DescribeVolumes), answered from memory, so the real AWSSDK.EC2 client can be pointed at it
/// (ServiceURL). Snapshots start pending and complete after <see cref="DescribesToComplete"/> reads. Hooks let a test
/// copy a directory at CreateSnapshot (the "volume"), fail a volume, fail a snapshot later, or throttle.
/// </summary>
public sealed class FakeEc2Endpoint : LoopbackHttpEndpoint
{
    private const string Ns = "http://ec2.amazonaws.com/doc/2016-11-15/";
    private readonly object _gate = new();
    private readonly Dictionary<string, FakeSnapshot> _snapshots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FakeVolume> _volumes = new(StringComparer.Ordinal);
    private int _next;
    private int _throttle;

    public sealed class FakeSnapshot
    {
        public string Id = "", VolumeId = "", State = "pending", Description = "";
        public int Reads;
        public DateTimeOffset Start;
        public Dictionary<string, string> Tags = new(StringComparer.Ordinal);
    }

    public sealed class FakeVolume
    {
        public string Id = "", SnapshotId = "", Zone = "", ClientToken = "";
        public int Reads;
        public Dictionary<string, string> Tags = new(StringComparer.Ordinal);
    }

    /// <summary>Runs at CreateSnapshot, before the answer (the point in time): volume id, snapshot id.</summary>
    public Action<string, string>? OnCreateSnapshot { get; set; }
    /// <summary>Volumes whose CreateSnapshot is refused (IncorrectState).</summary>
    public HashSet<string> FailingVolumes { get; } = new(StringComparer.Ordinal);
    /// <summary>Volumes whose snapshot goes to state error while completing.</summary>
    public HashSet<string> SnapshotsFailLaterFor { get; } = new(StringComparer.Ordinal);
    /// <summary>Snapshots whose DeleteSnapshot is refused (UnauthorizedOperation, HTTP 403, as a missing ec2:DeleteSnapshot permission is).</summary>
    public HashSet<string> UndeletableSnapshots { get; } = new(StringComparer.Ordinal);
    /// <summary>Reads of a snapshot (DescribeSnapshots by id) before it is completed.</summary>
    public int DescribesToComplete { get; set; } = 2;

    /// <summary>
    /// Makes CreateSnapshot of <paramref name="volumeId"/> copy <paramref name="sourceDirectory"/> (the live "volume")
    /// to &lt;snapshotsRoot&gt;/&lt;snapshot id&gt;. For PowerShell tests, where a script block cannot run on the endpoint's thread.
    /// </summary>
    public void CopyOnSnapshot(string volumeId, string sourceDirectory, string snapshotsRoot)
    {
        var previous = OnCreateSnapshot;
        OnCreateSnapshot = (volume, id) =>
        {
            previous?.Invoke(volume, id);
            if (volume == volumeId) LiveDirectoryCopy.Copy(sourceDirectory, Path.Combine(snapshotsRoot, id));
        };
    }

    public IReadOnlyCollection<FakeSnapshot> Snapshots { get { lock (_gate) return _snapshots.Values.ToList(); } }
    public IReadOnlyCollection<FakeVolume> Volumes { get { lock (_gate) return _volumes.Values.ToList(); } }

    /// <summary>Answers the next <paramref name="count"/> requests with RequestLimitExceeded (HTTP 503), as EC2 throttles.</summary>
    public void Throttle(int count) => Interlocked.Exchange(ref _throttle, count);

    /// <summary>Adds a snapshot as if made earlier (for retention tests).</summary>
    public void AddSnapshot(string id, string volumeId, DateTimeOffset start, System.Collections.IDictionary tags, string state = "completed")
    {
        var copy = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in tags) copy[e.Key.ToString()!] = e.Value?.ToString() ?? "";
        lock (_gate) _snapshots[id] = new FakeSnapshot { Id = id, VolumeId = volumeId, Start = start, State = state, Tags = copy };
    }

    public IEnumerable<RecordedRequest> Calls(string action) => Requests.Where(r => r.Action == action);

    protected override RecordedRequest Parse(HttpListenerRequest request, string body)
    {
        var form = HttpUtility.ParseQueryString(body);
        var parameters = form.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => form[k]!, StringComparer.Ordinal);
        return new RecordedRequest(request.HttpMethod, request.Url!.AbsolutePath, parameters.GetValueOrDefault("Action"), parameters, body, request.Headers["Authorization"], DateTimeOffset.UtcNow);
    }

    protected override (int, string, string, IReadOnlyDictionary<string, string>?) Answer(RecordedRequest r)
    {
        if (Interlocked.Decrement(ref _throttle) >= 0) return Error(503, "RequestLimitExceeded", "Request limit exceeded.");
        var p = r.Parameters;
        lock (_gate)
        {
            switch (r.Action)
            {
                case "CreateSnapshot":
                {
                    string volume = p["VolumeId"];
                    if (FailingVolumes.Contains(volume)) return Error(400, "IncorrectState", $"The volume '{volume}' is not in a state that allows snapshots.");
                    var s = new FakeSnapshot { Id = $"snap-{++_next:x8}", VolumeId = volume, Start = DateTimeOffset.UtcNow, Description = p.GetValueOrDefault("Description", "") };
                    foreach (var (k, v) in Tags(p, "TagSpecification.1.Tag")) s.Tags[k] = v;
                    OnCreateSnapshot?.Invoke(volume, s.Id);
                    _snapshots[s.Id] = s;
                    return Ok("CreateSnapshotResponse", SnapshotXml(s, "")); 
                }
                case "DescribeSnapshots":
                {
                    var ids = Indexed(p, "SnapshotId").ToList();
                    var filters = Filters(p);
                    IEnumerable<FakeSnapshot> set = ids.Count > 0 ? ids.Select(id => _snapshots.GetValueOrDefault(id)).OfType<FakeSnapshot>() : _snapshots.Values;
                    if (ids.Count > 0 && set.Count() < ids.Count) return Error(400, "InvalidSnapshot.NotFound", $"The snapshot '{ids.First(i => !_snapshots.ContainsKey(i))}' does not exist.");
                    set = set.Where(s => filters.All(f => Matches(s, f.Name, f.Values))).ToList();
                    if (ids.Count > 0)
                    {
                        foreach (var s in set)
                        {
                            if (s.State != "pending") continue;
                            s.Reads++;
                            if (SnapshotsFailLaterFor.Contains(s.VolumeId)) s.State = "error";
                            else if (s.Reads >= DescribesToComplete) s.State = "completed";
                        }
                    }
                    return Ok("DescribeSnapshotsResponse", "<snapshotSet>" + string.Concat(set.Select(s => "<item>" + SnapshotXml(s, "") + "</item>")) + "</snapshotSet>");
                }
                case "DeleteSnapshot":
                {
                    string id = p["SnapshotId"];
                    if (UndeletableSnapshots.Contains(id)) return Error(403, "UnauthorizedOperation", $"You are not authorized to perform this operation (ec2:DeleteSnapshot on {id}).");
                    if (!_snapshots.Remove(id)) return Error(400, "InvalidSnapshot.NotFound", $"The snapshot '{id}' does not exist.");
                    return Ok("DeleteSnapshotResponse", "<return>true</return>");
                }
                case "CreateVolume":
                {
                    string token = p.GetValueOrDefault("ClientToken", "");
                    var existing = token.Length > 0 ? _volumes.Values.FirstOrDefault(v => v.ClientToken == token) : null;
                    if (existing is null)
                    {
                        if (!_snapshots.TryGetValue(p["SnapshotId"], out var snap)) return Error(400, "InvalidSnapshot.NotFound", $"The snapshot '{p["SnapshotId"]}' does not exist.");
                        existing = new FakeVolume { Id = $"vol-{++_next:x8}", SnapshotId = snap.Id, Zone = p["AvailabilityZone"], ClientToken = token };
                        foreach (var (k, v) in Tags(p, "TagSpecification.1.Tag")) existing.Tags[k] = v;
                        _volumes[existing.Id] = existing;
                    }
                    return Ok("CreateVolumeResponse", VolumeXml(existing));
                }
                case "DescribeVolumes":
                {
                    var ids = Indexed(p, "VolumeId").ToList();
                    var set = _volumes.Values.Where(v => ids.Count == 0 || ids.Contains(v.Id)).ToList();
                    foreach (var v in set) v.Reads++;
                    return Ok("DescribeVolumesResponse", "<volumeSet>" + string.Concat(set.Select(v => "<item>" + VolumeXml(v) + "</item>")) + "</volumeSet>");
                }
                default:
                    return Error(400, "InvalidAction", $"The action {r.Action} is not valid for this web service.");
            }
        }
    }

    private static bool Matches(FakeSnapshot s, string name, List<string> values) => name switch
    {
        "tag-key" => values.Any(s.Tags.ContainsKey),
        "volume-id" => values.Contains(s.VolumeId),
        _ when name.StartsWith("tag:", StringComparison.Ordinal) => s.Tags.TryGetValue(name[4..], out var v) && values.Contains(v),
        _ => true,
    };

    private static IEnumerable<string> Indexed(IReadOnlyDictionary<string, string> p, string prefix)
    {
        for (int i = 1; p.TryGetValue($"{prefix}.{i}", out var v); i++) yield return v;
    }

    private static IEnumerable<(string Key, string Value)> Tags(IReadOnlyDictionary<string, string> p, string prefix)
    {
        for (int i = 1; p.TryGetValue($"{prefix}.{i}.Key", out var k); i++) yield return (k, p.GetValueOrDefault($"{prefix}.{i}.Value", ""));
    }

    private static List<(string Name, List<string> Values)> Filters(IReadOnlyDictionary<string, string> p)
    {
        var list = new List<(string, List<string>)>();
        for (int i = 1; p.TryGetValue($"Filter.{i}.Name", out var name); i++) list.Add((name, Indexed(p, $"Filter.{i}.Value").ToList()));
        return list;
    }

    private string SnapshotXml(FakeSnapshot s, string _) =>
        $"<snapshotId>{s.Id}</snapshotId><volumeId>{s.VolumeId}</volumeId><status>{s.State}</status><startTime>{s.Start.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}</startTime>" +
        $"<progress>{(s.State == "completed" ? 100 : Math.Min(99, s.Reads * 100 / Math.Max(1, DescribesToComplete)))}%</progress><ownerId>111122223333</ownerId><volumeSize>8</volumeSize>" +
        $"<description>{SecurityElement.Escape(s.Description)}</description><encrypted>false</encrypted>" +
        (s.State == "error" ? "<statusMessage>Snapshot copy failed.</statusMessage>" : "") +
        "<tagSet>" + string.Concat(s.Tags.Select(t => $"<item><key>{SecurityElement.Escape(t.Key)}</key><value>{SecurityElement.Escape(t.Value)}</value></item>")) + "</tagSet>";

    private static string VolumeXml(FakeVolume v) =>
        $"<volumeId>{v.Id}</volumeId><size>8</size><snapshotId>{v.SnapshotId}</snapshotId><availabilityZone>{v.Zone}</availabilityZone>" +
        $"<status>{(v.Reads >= 1 ? "available" : "creating")}</status><createTime>{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ}</createTime><volumeType>gp3</volumeType><encrypted>false</encrypted>" +
        "<tagSet>" + string.Concat(v.Tags.Select(t => $"<item><key>{SecurityElement.Escape(t.Key)}</key><value>{SecurityElement.Escape(t.Value)}</value></item>")) + "</tagSet>";

    private static (int, string, string, IReadOnlyDictionary<string, string>?) Ok(string root, string inner) =>
        (200, "text/xml;charset=UTF-8", $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><{root} xmlns=\"{Ns}\"><requestId>{Guid.NewGuid()}</requestId>{inner}</{root}>", null);

    private static (int, string, string, IReadOnlyDictionary<string, string>?) Error(int status, string code, string message) =>
        (status, "text/xml;charset=UTF-8", $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{SecurityElement.Escape(message)}</Message></Error></Errors><RequestID>{Guid.NewGuid()}</RequestID></Response>", null);
}
