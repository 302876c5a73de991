using System.Text.Json.Serialization;

namespace PgBackupTools;

/// <summary>How stored bytes are compressed.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CompressionKind>))]
public enum CompressionKind { None, Gzip, Zstd, Lz4 }
