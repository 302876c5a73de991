using System.Text.Json;

namespace PgBackupTools.Core.Repository;

/// <summary>
/// backups/&lt;stanza&gt;/&lt;id&gt;/in-progress.json: a physical or snapshot backup that is running says where its WAL
/// starts, so a WAL prune that runs meanwhile keeps it (a backup without a manifest is otherwise invisible). Written
/// before the backup starts on the server, with the redo point of the server's last checkpoint as a lower bound of the
/// start LSN (<see cref="Phase"/> Starting); rewritten with the exact start once the server fixed it (Running); rewritten
/// every <see cref="HeartbeatSeconds"/> so its store LastModified shows the backup is alive; deleted once the manifest
/// is written. Never encrypted (it holds positions and a host name, no data) and sealed with the manifest's SHA-256
/// line, so a prune without the repository's passphrase can read and check it.
/// </summary>
public sealed record BackupInProgressMarker
{
    public const string FileName = "in-progress.json";
    public const int CurrentVersion = 1;
    public const string StartingPhase = "Starting";
    public const string RunningPhase = "Running";

    public int MarkerVersion { get; init; } = CurrentVersion;
    public required string BackupId { get; init; }
    public required string Stanza { get; init; }
    public BackupType Type { get; init; }
    /// <summary>Starting: <see cref="StartLsn"/> is a lower bound (the last checkpoint's redo point before the backup began); Running: the backup's start LSN.</summary>
    public required string Phase { get; init; }
    public required string StartLsn { get; init; }
    public required string StartWalSegment { get; init; }
    public uint Timeline { get; init; }
    public string? Server { get; init; }
    public required string Host { get; init; }
    public int Pid { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset HeartbeatAt { get; init; }
    public int HeartbeatSeconds { get; init; }
    public string? ToolVersion { get; init; }

    public static string KeyOf(string stanza, string id) => BackupRepository.BackupFileKey(stanza, id, FileName);

    /// <summary>backups/&lt;stanza&gt;/&lt;id&gt;/in-progress.json</summary>
    public static bool IsMarkerKey(string key) => key.Split('/') is { Length: 4 } parts && parts[0] == "backups" && parts[3] == FileName;

    /// <summary>The sealed text the repository stores.</summary>
    public byte[] ToSealedJson() => ManifestChecksum.Seal(JsonSerializer.SerializeToUtf8Bytes(this, RepositoryJsonContext.Default.BackupInProgressMarker));

    /// <summary>Checks the checksum line and the content; throws <see cref="JsonException"/> saying why it cannot be trusted.</summary>
    public static BackupInProgressMarker Parse(byte[] json)
    {
        ManifestChecksum.Verify(json);
        var marker = JsonSerializer.Deserialize(json, RepositoryJsonContext.Default.BackupInProgressMarker) ?? throw new JsonException("it is empty");
        if (marker.MarkerVersion != CurrentVersion)
            throw new JsonException($"it has marker version {marker.MarkerVersion}; this PgBackupTools {BackupRepository.ToolVersion} reads version {CurrentVersion}");
        return marker;
    }

    /// <summary>The marker at <paramref name="key"/>; null when it is gone (the backup finished or was cleaned up since it was listed).</summary>
    public static async Task<BackupInProgressMarker?> ReadAsync(BackupRepository repository, string key, CancellationToken cancellationToken)
    {
        byte[] json;
        try
        {
            json = await repository.ReadAllAsync(key, cancellationToken).ConfigureAwait(false);
        }
        catch (Storage.ObjectNotFoundException)
        {
            return null;
        }
        return Parse(json);
    }

    public string Describe() =>
        $"the {Type.ToString().ToLowerInvariant()} backup {BackupId} in progress (started {StartedAt:u} on {Host}, pid {Pid}" +
        (Phase == StartingPhase ? $", still starting: its start is at or after {StartLsn})" : $", start LSN {StartLsn})");
}
