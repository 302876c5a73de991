using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Restore;

/// <summary>
/// The SHA-256 of every file a restore wrote, checked against the PostgreSQL backup_manifest that closes the tar: how a
/// file-copy backup, which stores no SHA-256 of the whole tar, proves its content on restore (and names the damaged
/// file). The manifest's own checksum is verified first, as pg_verifybackup does.
/// </summary>
internal sealed class RestoredFileChecksums(string backupId)
{
    private const string ManifestName = "backup_manifest";
    private readonly Dictionary<string, (long Size, string Sha256)> _restored = new(StringComparer.Ordinal);

    /// <summary>Called by the restore's hashing thread, and by the reading thread for a file it writes itself (tablespace_map).</summary>
    public void Add(string path, long size, byte[] sha256)
    {
        lock (_restored) _restored[Normalize(path)] = (size, Convert.ToHexString(sha256).ToLowerInvariant());
    }

    public void Verify(string dataDirectory)
    {
        string manifestPath = Path.Combine(dataDirectory, ManifestName);
        if (!File.Exists(manifestPath))
            throw Damaged($"its tar carries no {ManifestName}, so the restored files cannot be checked");
        byte[] manifest = File.ReadAllBytes(manifestPath);
        VerifyManifestChecksum(manifest);

        using var json = JsonDocument.Parse(manifest);
        var listed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in json.RootElement.GetProperty("Files").EnumerateArray())
        {
            string path = file.TryGetProperty("Path", out var p) ? p.GetString()!
                : Encoding.UTF8.GetString(Convert.FromHexString(file.GetProperty("Encoded-Path").GetString()!));
            listed.Add(path);
            long size = file.GetProperty("Size").GetInt64();
            string algorithm = file.TryGetProperty("Checksum-Algorithm", out var a) ? a.GetString()! : "NONE";
            if (!_restored.TryGetValue(path, out var restored))
                throw Damaged($"'{path}' is listed in its {ManifestName} but was not in the tar");
            if (algorithm != "SHA256")
                throw Damaged($"its {ManifestName} checks '{path}' with {algorithm}, not SHA-256, and the backup stores no other checksum of it");
            string expected = file.GetProperty("Checksum").GetString()!;
            if (restored.Size != size || restored.Sha256 != expected)
                throw Damaged($"'{path}' was restored with {restored.Size:N0} bytes and SHA-256 {restored.Sha256}, its {ManifestName} says {size:N0} bytes and {expected}");
        }
        foreach (var path in _restored.Keys)
            if (path != ManifestName && !listed.Contains(path))
                throw Damaged($"'{path}' was in the tar but is not listed in its {ManifestName}");
    }

    // The manifest's SHA-256 covers everything up to its last line, which holds it: "Manifest-Checksum": "<hex>"}.
    private void VerifyManifestChecksum(byte[] manifest)
    {
        int last = Array.LastIndexOf(manifest, (byte)'\n', manifest.Length - 2);
        string tail = last < 0 ? "" : Encoding.ASCII.GetString(manifest, last + 1, manifest.Length - last - 1);
        const string key = "\"Manifest-Checksum\": \"";
        int at = tail.IndexOf(key, StringComparison.Ordinal);
        if (at < 0) throw Damaged($"its {ManifestName} has no Manifest-Checksum line");
        string expected = tail.Substring(at + key.Length, 64);
        string actual = Convert.ToHexString(SHA256.HashData(manifest.AsSpan(0, last + 1))).ToLowerInvariant();
        if (actual != expected) throw Damaged($"its {ManifestName} fails its own checksum ({actual}, it says {expected})");
    }

    private static string Normalize(string path) => path.StartsWith("./", StringComparison.Ordinal) ? path[2..] : path;

    private PgBackupException Damaged(string what) => new(FailureKind.InvalidData,
        $"Backup {backupId} did not restore intact: {what}. The data directory must not be started (no recovery.signal was written); restore an older backup, and run Test-PgBackup on this one.", backupId);
}
