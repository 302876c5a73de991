using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Backup;

/// <summary>What Invoke-PgBackup asked for, for one database.</summary>
public sealed record LogicalBackupOptions
{
    public required string Database { get; init; }
    public DumpFormat Format { get; init; } = DumpFormat.Plain;
    public CompressionKind Compression { get; init; } = CompressionKind.Gzip;
    public int? CompressionLevel { get; init; }
    /// <summary>Parallel pg_dump jobs (directory format only).</summary>
    public int Jobs { get; init; } = 1;
    public string Stanza { get; init; } = "main";
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
}
