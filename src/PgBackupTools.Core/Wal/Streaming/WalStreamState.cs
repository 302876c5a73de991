using System.Text.Json;
using System.Text.Json.Serialization;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Wal.Streaming;

/// <summary>
/// wal/&lt;stanza&gt;/stream.json: where the WAL stream stands. Rewritten (atomically) after every durable write, so
/// FlushLsn is never ahead of what the repository holds; status reports read it for the streamed position and lag.
/// </summary>
public sealed class WalStreamState
{
    public const string FileName = "stream.json";

    public int Format { get; set; } = 1;
    /// <summary>End (exclusive) of the WAL that is durable in the repository: complete segments plus the streamed partial.</summary>
    public string FlushLsn { get; set; } = "";
    /// <summary>The timeline FlushLsn is on.</summary>
    public uint Timeline { get; set; }
    /// <summary>The segment being received (its .partial holds the bytes up to FlushLsn).</summary>
    public string? Segment { get; set; }
    public string SystemIdentifier { get; set; } = "";
    public DateTimeOffset Updated { get; set; }
    /// <summary>The server's write position at the last feedback (what it had sent us), for lag.</summary>
    public string? ServerLsn { get; set; }
    public string? Slot { get; set; }
    public string? ApplicationName { get; set; }
    public bool Synchronous { get; set; }
    public string? Server { get; set; }
    public string? HostName { get; set; }
    public int ProcessId { get; set; }

    public static string KeyOf(WalArchive archive) => StorageKey.Combine("wal", archive.Stanza, FileName);

    /// <summary>The stream's last confirmed position in this stanza, or null when no stream ever wrote one.</summary>
    public static async Task<WalStreamState?> ReadAsync(WalArchive archive, CancellationToken ct)
    {
        string key = KeyOf(archive);
        try
        {
            await using var stream = await archive.Repository.Store.OpenReadAsync(key, ct).ConfigureAwait(false);
            return await JsonSerializer.DeserializeAsync(stream, WalStreamJsonContext.Default.WalStreamState, ct).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
        catch (JsonException e)
        {
            throw new PgBackupException(FailureKind.InvalidData, $"{key} in {archive.Repository.Store.Location} is not readable ({e.Message}).", key, e);
        }
    }

    public async Task WriteAsync(WalArchive archive, CancellationToken ct)
    {
        await using var writer = await archive.Repository.Store.CreateAsync(KeyOf(archive), overwrite: true, ct).ConfigureAwait(false);
        await JsonSerializer.SerializeAsync(writer, this, WalStreamJsonContext.Default.WalStreamState, ct).ConfigureAwait(false);
        await writer.CommitAsync(ct).ConfigureAwait(false);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WalStreamState))]
[JsonSerializable(typeof(WalStreamLock))]
internal sealed partial class WalStreamJsonContext : JsonSerializerContext;
