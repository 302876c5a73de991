using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// Streams a PostgreSQL program's standard output (pg_dump, pg_basebackup) into one repository object:
/// raw hash -> compressor -> [encryptor] -> stored hash -> store. Compression comes first (ciphertext does not
/// compress), and what is actually stored is hashed so Test-PgBackup can check it without the key. The object is
/// committed only after the program succeeded; on any failure nothing becomes visible.
/// </summary>
internal static class ToolOutputWriter
{
    /// <param name="observe">Sees every raw chunk before it is compressed (row counting, tar scanning).</param>
    /// <param name="afterToolSucceeded">Runs once the program exited successfully, before the object is committed.</param>
    /// <param name="independentFrames">Zstd as independent frames that a restore decodes on all cores (physical backups).</param>
    public static async Task<PgBackupFile> WriteAsync(BackupRepository repository, string key, PgToolProcess tool,
        CompressionKind encoding, int? level, EncryptionKey? encryptionKey, ProgressMeter meter,
        Func<ReadOnlyMemory<byte>, ValueTask>? observe, Func<ValueTask>? afterToolSucceeded, CancellationToken ct, bool independentFrames = false)
    {
        await using var writer = await repository.Store.CreateAsync(key, overwrite: false, ct).ConfigureAwait(false);
        // When nothing transforms the bytes (custom archives, no compression) they are hashed once: on two cores a
        // second SHA-256 pass costs a tenth of the backup.
        bool storedIsRaw = encoding == CompressionKind.None && encryptionKey is null;
        HashingStream? stored = storedIsRaw ? null : new HashingStream(writer, leaveOpen: true);
        Stream storeSide = (Stream?)stored ?? writer;
        Stream? encryptor = encryptionKey is null ? null : new EncryptingStream(storeSide, encryptionKey, leaveOpen: true);
        var compressor = Compression.CreateCompressor(encryptor ?? storeSide, encoding, level, leaveOpen: true, independentFrames);
        var raw = new HashingStream(compressor, leaveOpen: true);
        bool completed = false;
        // Big chunks from a thread of its own instead of pg_dump's 8 KiB writes one by one: see ReadAheadReader.
        var reader = new ReadAheadReader(tool.StandardOutput);
        try
        {
            ReadOnlyMemory<byte> chunk;
            while (!(chunk = await reader.ReadAsync(ct).ConfigureAwait(false)).IsEmpty)
            {
                if (observe is not null) await observe(chunk).ConfigureAwait(false);
                await raw.WriteAsync(chunk, ct).ConfigureAwait(false);
                meter.Add(chunk.Length);
            }
            await tool.WaitForSuccessAsync(ct).ConfigureAwait(false);
            if (afterToolSucceeded is not null) await afterToolSucceeded().ConfigureAwait(false);
            await compressor.DisposeAsync().ConfigureAwait(false);
            if (encryptor is not null) await encryptor.DisposeAsync().ConfigureAwait(false); // writes the final chunk
            await writer.CommitAsync(ct).ConfigureAwait(false);
            completed = true;
        }
        catch (IOException e) when (!ct.IsCancellationRequested)
        {
            tool.Kill();
            throw new PgBackupException(FailureKind.OperationFailed, $"Writing {key} to {repository.Location} failed: {e.Message}", key, e);
        }
        finally
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            // On failure the compressor may fail again while flushing; the first error is the one that matters.
            try { await compressor.DisposeAsync().ConfigureAwait(false); }
            catch (Exception) when (!completed) { }
            // An aborted encryptor still seals its output on dispose; harmless, as the object is never committed.
            try { if (encryptor is not null) await encryptor.DisposeAsync().ConfigureAwait(false); }
            catch (Exception) when (!completed) { }
        }
        meter.Report();
        return new PgBackupFile
        {
            Bytes = raw.Length, Sha256 = raw.Sha256Hex, StoredBytes = stored?.Length ?? raw.Length, StoredSha256 = stored?.Sha256Hex ?? raw.Sha256Hex,
            Encoding = encoding, Encrypted = encryptionKey is not null,
        };
    }
}
