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
    public static async Task<List<StoredRecord>> ListAsync(BackupRepository repository, string? stanza, OperationContext context)
    {
        var ct = context.CancellationToken;
        string prefix = stanza is null ? "backups/" : $"backups/{RepositoryNames.ValidateStanza(stanza)}/";
        var keys = new List<string>();
        await foreach (var obj in repository.Store.ListAsync(prefix, ct).ConfigureAwait(false))
        {
            var parts = obj.Key.Split('/');
            if (parts.Length == 5 && parts[3] == FolderName && parts[4].EndsWith(".json", StringComparison.Ordinal)) keys.Add(obj.Key);
        }
        var records = new List<StoredRecord>();
        foreach (var key in keys)
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
