namespace PgBackupTools.Core.Streams;

/// <summary>How stored bytes are compressed. The value is recorded in manifests: never renumber.</summary>
public enum CompressionKind
{
    None = 0,
    Gzip = 1,
    Zstd = 2,
    Lz4 = 3,
}
