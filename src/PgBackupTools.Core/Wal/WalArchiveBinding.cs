using System.Text.Json.Serialization;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// wal/&lt;stanza&gt;/archive.json: the one cluster a stanza archives. Written once, by the first segment pushed
/// (never overwritten), from that segment's long page header, so a push never needs a database connection.
/// </summary>
public sealed class WalArchiveBinding
{
    public int Format { get; set; } = 1;
    /// <summary>pg_control's system identifier, as a decimal string (it is a uint64; JSON numbers lose precision).</summary>
    public string SystemIdentifier { get; set; } = "";
    public long WalSegmentSize { get; set; }
    public int WalBlockSize { get; set; }
    /// <summary>XLOG_PAGE_MAGIC of the first segment: it changes with every major version.</summary>
    public int WalPageMagic { get; set; }
    public int? PostgresMajorVersion { get; set; }
    public DateTimeOffset Created { get; set; }
    public string CreatedBy { get; set; } = "";
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WalArchiveBinding))]
internal sealed partial class WalJsonContext : JsonSerializerContext;
