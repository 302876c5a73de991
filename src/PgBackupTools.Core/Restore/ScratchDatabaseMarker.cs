using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PgBackupTools.Core.Restore;

/// <summary>
/// The note a scratch database carries (COMMENT ON DATABASE, a small JSON object) from its creation: which process of
/// which host made it, so that a later run can prove the process is gone before it drops what that process left behind.
/// </summary>
public sealed record ScratchDatabaseMarker
{
    public const string Tool = "PgBackupTools";
    public const string RestoringPhase = "restoring";
    /// <summary>Set just before the staging database is renamed to its target (and a -Force target renamed away).</summary>
    public const string PlacingPhase = "placing";

    public required string Purpose { get; init; }
    public required string HostName { get; init; }
    public required int ProcessId { get; init; }
    public required DateTimeOffset ProcessStartTime { get; init; }
    public required DateTimeOffset Created { get; init; }
    public string Phase { get; init; } = RestoringPhase;
    public string? TargetDatabase { get; init; }
    public string? ReplacedDatabase { get; init; }

    public static ScratchDatabaseMarker ForThisProcess(string purpose)
    {
        using var self = Process.GetCurrentProcess();
        return new ScratchDatabaseMarker
        {
            Purpose = purpose, HostName = Environment.MachineName, ProcessId = Environment.ProcessId,
            ProcessStartTime = self.StartTime.ToUniversalTime(), Created = DateTimeOffset.UtcNow,
        };
    }

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("tool", Tool);
            json.WriteString("purpose", Purpose);
            json.WriteString("host", HostName);
            json.WriteNumber("pid", ProcessId);
            json.WriteString("processStart", ProcessStartTime.UtcDateTime.ToString("o", CultureInfo.InvariantCulture));
            json.WriteString("created", Created.UtcDateTime.ToString("o", CultureInfo.InvariantCulture));
            json.WriteString("phase", Phase);
            if (TargetDatabase is not null) json.WriteString("target", TargetDatabase);
            if (ReplacedDatabase is not null) json.WriteString("replaced", ReplacedDatabase);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>The marker in a database comment, or null when the comment is not one of ours (absent, other text, fields missing).</summary>
    public static ScratchDatabaseMarker? TryParse(string? comment)
    {
        if (string.IsNullOrWhiteSpace(comment) || !comment.TrimStart().StartsWith('{')) return null;
        try
        {
            using var doc = JsonDocument.Parse(comment);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || Text(root, "tool") != Tool) return null;
            if (Text(root, "purpose") is not { } purpose || Text(root, "host") is not { } host || Text(root, "phase") is not { } phase) return null;
            if (!root.TryGetProperty("pid", out var pid) || pid.ValueKind != JsonValueKind.Number || !pid.TryGetInt32(out int processId)) return null;
            if (Time(root, "processStart") is not { } started || Time(root, "created") is not { } created) return null;
            return new ScratchDatabaseMarker
            {
                Purpose = purpose, HostName = host, ProcessId = processId, ProcessStartTime = started, Created = created, Phase = phase,
                TargetDatabase = Text(root, "target"), ReplacedDatabase = Text(root, "replaced"),
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static DateTimeOffset? Time(JsonElement root, string name) =>
        Text(root, name) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value)
            ? value : null;
}
