using System.Globalization;
using System.Text.Json;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Repository;

/// <summary>
/// What Test-PgBackup proved, kept beside the backup it proved: backups/&lt;stanza&gt;/&lt;id&gt;/tests/&lt;time&gt;.json,
/// one object per test, written whole or not at all (the store's atomic commit), never overwritten. In an encrypted
/// repository a &lt;time&gt;.json.hmac beside it authenticates it like a manifest (its own HKDF label), so a forged
/// "passed" record is refused. Removing the backup removes its records with its folder.
/// </summary>
public static class BackupTestRecords
{
    public const string FolderName = "tests";
    private static ReadOnlySpan<byte> HmacInfo => "pgbt test record hmac v1"u8;

    public static string RecordKey(string stanza, string id, DateTimeOffset time) =>
        BackupRepository.BackupFileKey(stanza, id, FolderName + "/" + time.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture) + ".json");

    /// <summary>Stores <paramref name="result"/> as a record of a test of <paramref name="backup"/>.</summary>
    public static async Task WriteAsync(BackupRepository repository, PgBackup backup, PgBackupTestResult result, CancellationToken ct)
    {
        string key = RecordKey(backup.Stanza, backup.Id, result.StartTime);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(result, RepositoryJsonContext.Default.PgBackupTestResult);
        await repository.WriteAuthenticatedAsync(key, json, HmacInfo, ct).ConfigureAwait(false);
    }

    /// <summary>A stored record and whether its HMAC was checked (false: encrypted repository opened without its key).</summary>
    public sealed record StoredRecord(string Key, PgBackupTestResult Result, bool Authenticated);

    /// <summary>
    /// Every readable record under <paramref name="stanza"/> (all stanzas when null), oldest first. A record that is
    /// unreadable, or fails authentication in an encrypted repository, is reported through <paramref name="context"/> and skipped.
    /// </summary>
    public static async Task<List<StoredRecord>> ListAsync(BackupRepository repository, string? stanza, OperationContext context) =>
        await ReadAsync(repository, await repository.ListBackupKeysAsync(stanza, IsRecordKey, context.CancellationToken).ConfigureAwait(false), context).ConfigureAwait(false);

    /// <summary>backups/&lt;stanza&gt;/&lt;id&gt;/tests/&lt;time&gt;.json</summary>
    public static bool IsRecordKey(string key) =>
        key.Split('/') is { Length: 5 } parts && parts[0] == "backups" && parts[3] == FolderName && parts[4].EndsWith(".json", StringComparison.Ordinal);

    /// <summary>The records among <paramref name="keys"/> (a listing of backups/), oldest first; unreadable or unauthentic ones are reported and skipped.</summary>
    public static async Task<List<StoredRecord>> ReadAsync(BackupRepository repository, IEnumerable<string> keys, OperationContext context)
    {
        var ct = context.CancellationToken;
        var records = new List<StoredRecord>();
        foreach (var key in keys.Where(IsRecordKey))
        {
            try
            {
                byte[] json = await repository.ReadAllAsync(key, ct).ConfigureAwait(false);
                bool authenticated = false;
                if (repository.Key is not null)
                {
                    if (!await repository.IsAuthenticAsync(key, json, HmacInfo, ct).ConfigureAwait(false))
                    {
                        context.Warn($"Ignoring the test record {key}: it fails authentication (edited, replaced, or written with another key).");
                        continue;
                    }
                    authenticated = true;
                }
                else if (!repository.IsEncrypted)
                {
                    authenticated = true; // nothing to authenticate with: as trusted as the manifests
                }
                var result = JsonSerializer.Deserialize(json, RepositoryJsonContext.Default.PgBackupTestResult) ?? throw new JsonException("empty");
                records.Add(new StoredRecord(key, result, authenticated));
            }
            catch (ObjectNotFoundException)
            {
                context.Warn($"Ignoring the test record {key}: its HMAC file is missing, so it cannot be authenticated.");
            }
            catch (JsonException e)
            {
                context.Warn($"Ignoring the test record {key}: it is not readable ({e.Message}).");
            }
        }
        return records.OrderBy(r => r.Result.StartTime).ToList();
    }
}
