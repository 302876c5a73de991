using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// PostgreSQL's backup_manifest (version 1, the format BASE_BACKUP writes and pg_verifybackup reads): every file with
/// its size and SHA-256, the WAL range, and last the SHA-256 of everything before the line that holds it. A file-copy
/// backup carries one, so pg_verifybackup can check a restored directory as it checks pg_basebackup's.
/// </summary>
internal sealed class BackupManifestBuilder
{
    private readonly StringBuilder _text = new("{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [");
    private bool _first = true;

    public int FileCount { get; private set; }

    public void AddFile(string path, long size, DateTimeOffset modified, byte[] sha256)
    {
        _text.Append(_first ? "\n" : ",\n");
        _first = false;
        _text.Append("{ \"Path\": ").Append(JsonString(path))
            .Append(", \"Size\": ").Append(size.ToString(CultureInfo.InvariantCulture))
            .Append(", \"Last-Modified\": \"").Append(modified.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)).Append(" GMT\"")
            .Append(", \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"").Append(Convert.ToHexString(sha256).ToLowerInvariant()).Append("\" }");
        FileCount++;
    }

    public byte[] Finish(uint timeline, string startLsn, string endLsn)
    {
        _text.Append(" ],\n\"WAL-Ranges\": [\n")
            .Append("{ \"Timeline\": ").Append(timeline.ToString(CultureInfo.InvariantCulture))
            .Append(", \"Start-LSN\": \"").Append(startLsn).Append("\", \"End-LSN\": \"").Append(endLsn).Append("\" }\n],\n");
        byte[] body = Encoding.UTF8.GetBytes(_text.ToString());
        byte[] tail = Encoding.ASCII.GetBytes("\"Manifest-Checksum\": \"" + Convert.ToHexString(SHA256.HashData(body)).ToLowerInvariant() + "\"}\n");
        return [.. body, .. tail];
    }

    private static string JsonString(string value) => System.Text.Json.JsonSerializer.Serialize(value, BackupManifestJson.Default.String);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class BackupManifestJson : System.Text.Json.Serialization.JsonSerializerContext;
