using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Restore;

/// <summary>Reads stored backup files back, checking every byte against the manifest's SHA-256.</summary>
public static class BackupFileReader
{
    /// <summary>
    /// Copies the decoded content of <paramref name="file"/> to <paramref name="destination"/> and throws
    /// <see cref="ChecksumMismatchException"/> if the stored or decoded bytes differ from the manifest. The check can
    /// only end after the last byte, so a caller must treat what it wrote as unconfirmed until this returns.
    /// </summary>
    public static async Task<long> CopyVerifiedAsync(BackupRepository repository, PgBackup backup, PgBackupFile file, Stream destination,
        Action<long>? onBytes, CancellationToken cancellationToken)
    {
        string key = BackupRepository.BackupFileKey(backup.Stanza, backup.Id, file.Name);
        await using var source = await repository.Store.OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
        var stored = new HashingStream(source, leaveOpen: true);
        // stored hash -> [decryptor: authenticates every chunk] -> decompressor -> raw hash.
        Stream encoded = file.Encrypted ? new DecryptingStream(stored, repository.RequireKey(), leaveOpen: true) : stored;
        // Independent zstd frames (physical backups) decode on all cores; one-frame files stream as before.
        await using var decoded = Compression.CreateDecompressor(encoded, file.Encoding, leaveOpen: true, parallel: true);
        // Without a whole-file SHA-256 (a file-copy tar: each file's is in its backup_manifest), only count.
        var raw = new HashingStream(decoded, leaveOpen: true, computeHash: file.Sha256 is not null);
        var buffer = new byte[1 << 20];
        while (true)
        {
            int n;
            try
            {
                n = await raw.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException and not PgBackupException)
            {
                // A damaged compressed or encrypted stream fails to decode before the checksum can tell: report it as what it is.
                await ThrowIfStoredBytesDifferAsync(stored, file, key, cancellationToken).ConfigureAwait(false);
                if (e is EncryptedDataException)
                    throw new PgBackupException(FailureKind.InvalidData,
                        $"'{key}' fails decryption although its checksum matches the manifest: {e.Message} Do not trust this backup.", key, e);
                throw new PgBackupException(FailureKind.InvalidData, $"'{key}' cannot be decoded ({e.Message}) although its checksum matches.", key, e);
            }
            if (n == 0) break;
            try
            {
                await destination.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The consumer (psql, pg_restore) gave up; if it choked on damaged bytes, the damage is the cause to report.
                await ThrowIfStoredBytesDifferAsync(stored, file, key, cancellationToken).ConfigureAwait(false);
                throw;
            }
            onBytes?.Invoke(n);
        }
        // Drain anything after the compressed stream's end so the stored hash covers the whole object.
        await stored.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        string storedHash = stored.Sha256Hex;
        if (storedHash != file.StoredSha256) throw new ChecksumMismatchException(key, file.StoredSha256, storedHash);
        if (file.Sha256 is not null && raw.Sha256Hex != file.Sha256) throw new ChecksumMismatchException(key + " (decoded)", file.Sha256, raw.Sha256Hex);
        return raw.Length;
    }

    private static async Task ThrowIfStoredBytesDifferAsync(HashingStream stored, PgBackupFile file, string key, CancellationToken cancellationToken)
    {
        await stored.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        var actual = stored.Sha256Hex;
        if (actual != file.StoredSha256) throw new ChecksumMismatchException(key, file.StoredSha256, actual);
    }

    /// <summary>Reads every stored byte of <paramref name="file"/> and compares its SHA-256 with the manifest; returns the actual hash.</summary>
    public static async Task<string> HashStoredAsync(BackupRepository repository, PgBackup backup, PgBackupFile file, Action<long>? onBytes, CancellationToken cancellationToken)
    {
        string key = BackupRepository.BackupFileKey(backup.Stanza, backup.Id, file.Name);
        await using var source = await repository.Store.OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
        var stored = new HashingStream(source, leaveOpen: true);
        var buffer = new byte[1 << 20];
        int n;
        while ((n = await stored.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0) onBytes?.Invoke(n);
        return stored.Sha256Hex;
    }

    /// <summary>Throws <see cref="ChecksumMismatchException"/> on the first file whose stored bytes differ from the manifest.</summary>
    public static async Task VerifyAllAsync(BackupRepository repository, PgBackup backup, Action<long>? onBytes, CancellationToken cancellationToken)
    {
        foreach (var file in backup.Files)
        {
            var actual = await HashStoredAsync(repository, backup, file, onBytes, cancellationToken).ConfigureAwait(false);
            if (actual != file.StoredSha256)
                throw new ChecksumMismatchException(BackupRepository.BackupFileKey(backup.Stanza, backup.Id, file.Name), file.StoredSha256, actual);
        }
    }
}
