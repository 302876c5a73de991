using System.Text.Json;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Repository;

/// <summary>
/// The repository layout of DESIGN.md over any store:
/// repository.json, backups/&lt;stanza&gt;/&lt;id&gt;/... and backups/&lt;stanza&gt;/&lt;id&gt;/manifest.json (written last: the commit point).
/// An encrypted repository also holds the unlocked master key (<see cref="Key"/>) until it is disposed, and beside each
/// manifest a manifest.json.hmac that authenticates it (HMAC-SHA256 under a key derived from the master key).
/// </summary>
public sealed class BackupRepository : IDisposable
{
    public const string InfoKey = "repository.json";
    public const string ManifestName = "manifest.json";
    /// <summary>Appended to an authenticated object's key for the key of its HMAC (in an encrypted repository).</summary>
    public const string HmacExtension = ".hmac";
    public const string ManifestHmacName = ManifestName + HmacExtension;
    /// <summary>Appended to the name of every file stored encrypted.</summary>
    public const string EncryptedExtension = ".enc";
    public static string ToolVersion { get; } = typeof(BackupRepository).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private static ReadOnlySpan<byte> ManifestHmacInfo => "pgbt manifest hmac v1"u8;

    public IObjectStore Store { get; }
    public string Location => Store.Location;

    /// <summary>The public encryption parameters from repository.json; null for an unencrypted repository.</summary>
    public RepositoryEncryption? Encryption { get; private set; }

    /// <summary>True if the repository's data is encrypted.</summary>
    public bool IsEncrypted => Encryption is not null;

    /// <summary>The master key, when the repository is encrypted and was opened with its passphrase.</summary>
    public EncryptionKey? Key { get; private set; }

    private BackupRepository(IObjectStore store) => Store = store;

    /// <summary>Zeroes the master key.</summary>
    public void Dispose()
    {
        Key?.Dispose();
        Key = null;
        (Store as IDisposable)?.Dispose();
    }

    /// <summary>
    /// Opens the repository at <paramref name="location"/> (a directory path, s3://bucket/prefix or az://account/container/prefix;
    /// options beyond the URL as <see cref="ObjectStoreFactory"/> finds them). With <paramref name="create"/> a missing
    /// repository is created (encrypted if a passphrase is given); without it a missing one is an error that says how to create it.
    /// </summary>
    /// <param name="passphrase">
    /// The passphrase of an encrypted repository, or of the new one to create. When null, the environment variable
    /// <see cref="RepositoryPassphrase.DefaultVariable"/> is used if set. A passphrase for an existing unencrypted
    /// repository is an error (a default-variable one only draws a warning). A wrong one throws
    /// <see cref="WrongPassphraseException"/> before anything else is read or written.
    /// </param>
    /// <param name="keyRequired">
    /// False when the caller only reads manifests (listing): an encrypted repository then opens without a passphrase,
    /// though one that is given explicitly is still checked.
    /// </param>
    public static async Task<BackupRepository> OpenAsync(string location, bool create, CancellationToken cancellationToken,
        PassphraseSource? passphrase = null, bool keyRequired = true, OperationContext? context = null)
    {
        if (string.IsNullOrWhiteSpace(location))
            throw new PgBackupException(FailureKind.InvalidArgument, "No repository given: pass -Repository with a directory path, s3://bucket/prefix or az://account/container/prefix.");
        return await OpenAsync(ObjectStoreFactory.Create(location), create, cancellationToken, passphrase, keyRequired, context).ConfigureAwait(false);
    }

    /// <summary>As <see cref="OpenAsync(string, bool, CancellationToken, PassphraseSource?, bool, OperationContext?)"/>, on a store already built (tests wrap one to count its calls). Disposing the repository disposes the store.</summary>
    internal static async Task<BackupRepository> OpenAsync(IObjectStore store, bool create, CancellationToken cancellationToken,
        PassphraseSource? passphrase = null, bool keyRequired = true, OperationContext? context = null)
    {
        context ??= OperationContext.None;
        bool implicitPassphrase = false;
        if (passphrase is null && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(RepositoryPassphrase.DefaultVariable)))
        {
            passphrase = PassphraseSource.FromEnvironmentVariable(RepositoryPassphrase.DefaultVariable);
            implicitPassphrase = true;
        }

        var repository = new BackupRepository(store);
        try
        {
            var info = await repository.TryReadInfoAsync(cancellationToken).ConfigureAwait(false);
            if (info is null)
            {
                if (!create)
                    throw new PgBackupException(FailureKind.NotFound,
                        $"There is no PgBackupTools repository at {store.Location} (no {InfoKey}); check the location. A new one is created by the first Invoke-PgBackup -Repository '{store.Location}' or by Enable-PgWalArchiving -Repository '{store.Location}'.", store.Location);
                info = new RepositoryInfo { Created = DateTimeOffset.UtcNow, CreatedBy = "PgBackupTools " + ToolVersion };
                if (passphrase is not null)
                {
                    var (parameters, key) = CreateKey(passphrase, store.Location);
                    info.Encryption = parameters;
                    repository.Key = key;
                    context.Log($"Creating an encrypted repository at {store.Location} (key id {key.KeyId}, passphrase from {passphrase.Description}).");
                }
                (store as FileSystemStore)?.EnsureRoot();
                var written = await repository.WriteInfoAsync(info, cancellationToken).ConfigureAwait(false);
                if (!ReferenceEquals(written, info))
                {
                    // Another process created it first: open what it wrote, as if it had been there all along.
                    repository.Dispose();
                    info = written;
                }
                else
                {
                    repository.Encryption = info.Encryption;
                    return repository;
                }
            }
            if (info.Format > RepositoryInfo.CurrentFormat)
            {
                throw new PgBackupException(FailureKind.InvalidData,
                    $"The repository at {store.Location} has format {info.Format}; this PgBackupTools {ToolVersion} reads format {RepositoryInfo.CurrentFormat}. Update the module.", store.Location);
            }
            repository.Encryption = info.Encryption;
            if (info.Encryption is null)
            {
                if (passphrase is not null && !implicitPassphrase)
                    throw new PgBackupException(FailureKind.InvalidArgument,
                        $"The repository at {store.Location} is not encrypted, so the passphrase from {passphrase.Description} would not be used. " +
                        "Leave out the passphrase for this repository; to encrypt backups, create a new repository with a passphrase.", store.Location);
                if (passphrase is not null)
                    context.Warn($"The environment variable {RepositoryPassphrase.DefaultVariable} is set, but the repository at {store.Location} is not encrypted: its backups are stored unencrypted.");
                return repository;
            }
            if (passphrase is null)
            {
                if (!keyRequired) return repository;
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"The repository at {store.Location} is encrypted and no passphrase was given. {RepositoryPassphrase.HowToGiveOne}", store.Location);
            }
            if (!keyRequired && implicitPassphrase) return repository; // listing: no need to spend a KDF run
            repository.Key = UnlockKey(passphrase, info.Encryption, store.Location);
            context.Log($"Unlocked the encrypted repository at {store.Location} (key id {repository.Key.KeyId}) with the passphrase from {passphrase.Description}.");
            return repository;
        }
        catch
        {
            repository.Dispose();
            throw;
        }
    }

    private static (RepositoryEncryption, EncryptionKey) CreateKey(PassphraseSource passphrase, string location)
    {
        try
        {
            return passphrase.CreateRepositoryKey();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw PassphraseUnusable(passphrase, location, e);
        }
    }

    private static EncryptionKey UnlockKey(PassphraseSource passphrase, RepositoryEncryption parameters, string location)
    {
        try
        {
            return passphrase.Unlock(parameters);
        }
        catch (WrongPassphraseException)
        {
            throw;
        }
        catch (NotSupportedException e)
        {
            throw new PgBackupException(FailureKind.NotInstalled, $"The repository at {location} cannot be unlocked: {e.Message}", location, e);
        }
        catch (InvalidDataException e)
        {
            throw new PgBackupException(FailureKind.InvalidData, $"The repository at {location} cannot be unlocked: {e.Message}", location, e);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw PassphraseUnusable(passphrase, location, e);
        }
    }

    // The source's messages name the variable or file, never the value.
    private static PgBackupException PassphraseUnusable(PassphraseSource passphrase, string location, Exception e) =>
        new(e is UnauthorizedAccessException ? FailureKind.PermissionDenied : FailureKind.InvalidArgument,
            $"The passphrase for the repository at {location} could not be read from {passphrase.Description}: {e.Message}", location, e);

    private async Task<RepositoryInfo?> TryReadInfoAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await Store.OpenReadAsync(InfoKey, cancellationToken).ConfigureAwait(false);
            return await JsonSerializer.DeserializeAsync(stream, RepositoryJsonContext.Default.RepositoryInfo, cancellationToken).ConfigureAwait(false)
                ?? throw new JsonException("empty");
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
        catch (JsonException e)
        {
            throw new PgBackupException(FailureKind.InvalidData, $"{InfoKey} in {Store.Location} is not readable ({e.Message}). Was this folder made by PgBackupTools?", Store.Location, e);
        }
    }

    /// <summary>Writes repository.json unless it exists; returns what the repository holds afterwards.</summary>
    private async Task<RepositoryInfo> WriteInfoAsync(RepositoryInfo info, CancellationToken cancellationToken)
    {
        try
        {
            await using var writer = await Store.CreateAsync(InfoKey, overwrite: false, cancellationToken).ConfigureAwait(false);
            await JsonSerializer.SerializeAsync(writer, info, RepositoryJsonContext.Default.RepositoryInfo, cancellationToken).ConfigureAwait(false);
            await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
            return info;
        }
        catch (ObjectAlreadyExistsException)
        {
            return await TryReadInfoAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new PgBackupException(FailureKind.OperationFailed, $"{InfoKey} in {Store.Location} appeared and vanished while creating the repository; try again.", Store.Location);
        }
    }

    /// <summary>The key of an encrypted repository; a clear error if it was opened without one (listing only).</summary>
    public EncryptionKey RequireKey() => Key ?? throw new PgBackupException(FailureKind.InvalidArgument,
        $"The repository at {Location} is encrypted and was opened without its passphrase. {RepositoryPassphrase.HowToGiveOne}", Location);

    public static string BackupFolder(string stanza, string id) =>
        StorageKey.Combine("backups", RepositoryNames.ValidateStanza(stanza), RepositoryNames.ValidateBackupId(id));

    public static string BackupFileKey(string stanza, string id, string fileName) => StorageKey.Combine(BackupFolder(stanza, id), fileName);

    /// <summary>
    /// Commits a backup whose files are written: confirms (with one listing of its folder) that each file the manifest
    /// records is stored with its size, then writes the manifest. Until the manifest exists the folder looks like the
    /// remains of an unfinished backup, which a retention run cleans up once they are older than its grace period; a
    /// backup that outlasted it must fail here rather than commit a manifest over files that are gone.
    /// </summary>
    public async Task CommitBackupAsync(PgBackup backup, CancellationToken cancellationToken)
    {
        string folder = BackupFolder(backup.Stanza, backup.Id) + "/";
        var stored = new Dictionary<string, long>(StringComparer.Ordinal);
        await foreach (var obj in Store.ListAsync(folder, cancellationToken).ConfigureAwait(false)) stored[obj.Key[folder.Length..]] = obj.Size;
        foreach (var file in backup.Files)
        {
            if (stored.TryGetValue(file.Name, out long size) && size == file.StoredBytes) continue;
            throw new PgBackupException(FailureKind.OperationFailed,
                $"The file {file.Name} of backup {backup.Id} is {(stored.ContainsKey(file.Name) ? $"{size:N0} bytes in {Location}, not the {file.StoredBytes:N0} written" : $"no longer in {Location}")}, " +
                "so the backup is not committed. Was it removed by a retention run (Remove-PgBackup, Invoke-PgBackup -KeepLast/-RetentionDays) " +
                "whose -GracePeriod is shorter than this backup took? Give retention a longer -GracePeriod and run the backup again.", file.Name);
        }
        await WriteManifestAsync(backup, cancellationToken).ConfigureAwait(false);
    }

    public async Task WriteManifestAsync(PgBackup backup, CancellationToken cancellationToken)
    {
        byte[] json = ManifestChecksum.Seal(JsonSerializer.SerializeToUtf8Bytes(backup, RepositoryJsonContext.Default.PgBackup));
        // The manifest is the commit point, so a committed manifest always has its HMAC.
        await WriteAuthenticatedAsync(BackupFileKey(backup.Stanza, backup.Id, ManifestName), json, ManifestHmacInfo, cancellationToken).ConfigureAwait(false);
        backup.Repository = Location;
    }

    /// <summary>
    /// Writes <paramref name="data"/> under <paramref name="key"/>, never overwriting. With the key of an encrypted
    /// repository its HMAC (under the subkey <paramref name="hmacInfo"/>) goes to &lt;key&gt;.hmac first, so the
    /// object is never visible without it.
    /// </summary>
    internal Task WriteAuthenticatedAsync(string key, byte[] data, ReadOnlySpan<byte> hmacInfo, CancellationToken cancellationToken) =>
        WriteWithHmacAsync(key, data, Key is null ? null : HmacHex(hmacInfo, data), cancellationToken);

    private async Task WriteWithHmacAsync(string key, byte[] data, string? hmac, CancellationToken cancellationToken)
    {
        if (hmac is not null)
        {
            await using var hmacWriter = await Store.CreateAsync(key + HmacExtension, overwrite: false, cancellationToken).ConfigureAwait(false);
            await hmacWriter.WriteAsync(System.Text.Encoding.ASCII.GetBytes(hmac + "\n"), cancellationToken).ConfigureAwait(false);
            await hmacWriter.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        await using var writer = await Store.CreateAsync(key, overwrite: false, cancellationToken).ConfigureAwait(false);
        await writer.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// True when &lt;key&gt;.hmac holds the HMAC of <paramref name="data"/> under the subkey <paramref name="hmacInfo"/>
    /// (compared in constant time); <see cref="ObjectNotFoundException"/> when there is no HMAC. Needs the key.
    /// </summary>
    internal Task<bool> IsAuthenticAsync(string key, byte[] data, ReadOnlySpan<byte> hmacInfo, CancellationToken cancellationToken) =>
        MatchesStoredHmacAsync(key + HmacExtension, HmacHex(hmacInfo, data), cancellationToken);

    private async Task<bool> MatchesStoredHmacAsync(string hmacKey, string expected, CancellationToken cancellationToken)
    {
        string actual = System.Text.Encoding.ASCII.GetString(await ReadAllAsync(hmacKey, cancellationToken).ConfigureAwait(false)).Trim();
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.ASCII.GetBytes(expected), System.Text.Encoding.ASCII.GetBytes(actual));
    }

    /// <summary>HMAC-SHA256 of <paramref name="data"/> under the subkey <paramref name="info"/> of the master key, in lower-case hex.</summary>
    private string HmacHex(ReadOnlySpan<byte> info, ReadOnlySpan<byte> data)
    {
        Span<byte> hmacKey = stackalloc byte[32];
        try
        {
            RequireKey().DeriveSubkey(info, hmacKey);
            return Convert.ToHexString(System.Security.Cryptography.HMACSHA256.HashData(hmacKey, data)).ToLowerInvariant();
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(hmacKey);
        }
    }

    /// <summary>
    /// The manifest of <paramref name="backup"/> as the repository holds it, for a restore or a test. In an encrypted
    /// repository it is re-read and its HMAC checked with the key, so a swapped or edited manifest (or an object edited
    /// on its way down the pipeline) is refused; elsewhere <paramref name="backup"/> is returned as it is.
    /// </summary>
    public async Task<PgBackup> GetAuthenticatedBackupAsync(PgBackup backup, CancellationToken cancellationToken)
    {
        if (!IsEncrypted) return backup;
        RequireKey();
        string manifestKey = BackupFileKey(backup.Stanza, backup.Id, ManifestName);
        byte[] json;
        bool authentic;
        try
        {
            json = await ReadAllAsync(manifestKey, cancellationToken).ConfigureAwait(false);
            authentic = await IsAuthenticAsync(manifestKey, json, ManifestHmacInfo, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException e)
        {
            throw new PgBackupException(FailureKind.InvalidData,
                $"The manifest of backup {backup.Id} in the encrypted repository {Location} cannot be authenticated: {e.Message} is missing. " +
                "It was not written by this repository's key, or was removed; do not trust this backup.", manifestKey, e);
        }
        if (!authentic)
            throw new PgBackupException(FailureKind.InvalidData,
                $"The manifest of backup {backup.Id} in {Location} fails authentication: it was edited or replaced after the backup, " +
                "or was written with another key. Do not trust this backup; restore from another one.", manifestKey);
        var manifest = JsonSerializer.Deserialize(json, RepositoryJsonContext.Default.PgBackup)
            ?? throw new PgBackupException(FailureKind.InvalidData, $"The manifest {manifestKey} is empty.", manifestKey);
        manifest.Repository = Location;
        return manifest;
    }

    /// <summary>A whole (small) object: a manifest, a record, an HMAC.</summary>
    internal async Task<byte[]> ReadAllAsync(string key, CancellationToken cancellationToken)
    {
        await using var stream = await Store.OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private async Task<PgBackup> ReadManifestAsync(string key, CancellationToken cancellationToken)
    {
        byte[] json = await ReadAllAsync(key, cancellationToken).ConfigureAwait(false);
        ManifestChecksum.Verify(json);
        var backup = JsonSerializer.Deserialize(json, RepositoryJsonContext.Default.PgBackup) ?? throw new JsonException("empty manifest");
        backup.Repository = Location;
        return backup;
    }

    /// <summary>Every committed backup, oldest first. An unreadable manifest is reported through <paramref name="context"/> and skipped.</summary>
    public async Task<List<PgBackup>> ListBackupsAsync(string? stanza, OperationContext context) =>
        await ReadBackupsAsync(await ListBackupKeysAsync(stanza, IsManifestKey, context.CancellationToken).ConfigureAwait(false), context).ConfigureAwait(false);

    /// <summary>backups/&lt;stanza&gt;/&lt;id&gt;/manifest.json</summary>
    public static bool IsManifestKey(string key) => key.Split('/') is { Length: 4 } parts && parts[0] == "backups" && parts[3] == ManifestName;

    /// <summary>
    /// One listing of backups/ (of one stanza's folder when <paramref name="stanza"/> is given), kept to the keys
    /// <paramref name="keep"/> picks: a caller that needs manifests and test records pays for one listing, not two.
    /// </summary>
    public async Task<List<string>> ListBackupKeysAsync(string? stanza, Func<string, bool> keep, CancellationToken cancellationToken)
    {
        string prefix = stanza is null ? "backups/" : $"backups/{RepositoryNames.ValidateStanza(stanza)}/";
        var keys = new List<string>();
        await foreach (var obj in Store.ListAsync(prefix, cancellationToken).ConfigureAwait(false))
            if (keep(obj.Key)) keys.Add(obj.Key);
        return keys;
    }

    /// <summary>The committed backups among <paramref name="keys"/> (its manifest keys), oldest first. An unreadable manifest is reported and skipped.</summary>
    public async Task<List<PgBackup>> ReadBackupsAsync(IEnumerable<string> keys, OperationContext context)
    {
        var backups = new List<PgBackup>();
        foreach (var key in keys.Where(IsManifestKey))
        {
            try
            {
                backups.Add(await ReadManifestAsync(key, context.CancellationToken).ConfigureAwait(false));
            }
            catch (JsonException e)
            {
                context.Warn($"Skipping {key}: the manifest is not readable ({e.Message}).");
            }
        }
        return backups.OrderBy(b => b.StartTime).ThenBy(b => b.Id, StringComparer.Ordinal).ToList();
    }

    public async Task<PgBackup> GetBackupAsync(string stanza, string id, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadManifestAsync(BackupFileKey(stanza, id, ManifestName), cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            throw new PgBackupException(FailureKind.NotFound, $"There is no backup '{id}' in stanza '{stanza}' of {Location}. Get-PgBackup lists the backups.", id);
        }
    }

    /// <summary>
    /// After a backup failed: removes what it wrote, best effort. The store that failed the backup may fail this too;
    /// the first failure is the one to report, so a cleanup failure is only a warning (the backup has no manifest,
    /// so it is never listed or restored).
    /// </summary>
    public async Task AbandonUnfinishedAsync(PgBackup backup, OperationContext context)
    {
        try
        {
            await DeleteUncommittedAsync(backup.Stanza, backup.Id, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception cleanup) when (cleanup is not OutOfMemoryException)
        {
            context.Warn($"Could not remove the unfinished backup {backup.Id} from {Location} ({cleanup.Message}); it has no manifest, so it is never listed or restored.");
        }
    }

    /// <summary>Best-effort removal of what an unfinished backup wrote (never called once its manifest exists).</summary>
    public async Task DeleteUncommittedAsync(string stanza, string id, CancellationToken cancellationToken)
    {
        var folder = BackupFolder(stanza, id) + "/";
        var keys = new List<string>();
        await foreach (var obj in Store.ListAsync(folder, cancellationToken).ConfigureAwait(false)) keys.Add(obj.Key);
        if (keys.Contains(folder + ManifestName)) return;
        foreach (var key in keys) await Store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
        if (Store.TryGetLocalPath(BackupFolder(stanza, id)) is { } dir && Directory.Exists(dir))
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
