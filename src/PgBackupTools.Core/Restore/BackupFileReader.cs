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
        await using var content = await VerifiedBackupFileStream.OpenAsync(repository, backup, file, cancellationToken).ConfigureAwait(false);
        var buffer = new byte[1 << 20];
        int n;
        while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            try
            {
                await destination.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The consumer (psql, pg_restore) gave up; if it choked on damaged bytes, the damage is the cause to report.
                await content.ThrowIfStoredBytesDifferAsync(cancellationToken).ConfigureAwait(false);
                throw;
            }
            onBytes?.Invoke(n);
        }
        return content.BytesRead;
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
