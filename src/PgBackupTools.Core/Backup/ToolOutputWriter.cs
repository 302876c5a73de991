using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// Streams a PostgreSQL program's standard output (pg_dump, pg_basebackup) into one repository object through a
/// <see cref="BackupObjectWriter"/>. The object is committed only after the program succeeded; on any failure nothing
/// becomes visible.
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
        await using var output = await BackupObjectWriter.CreateAsync(repository, key, encoding, level, encryptionKey, ct, independentFrames).ConfigureAwait(false);
        // Big chunks from a thread of its own instead of pg_dump's 8 KiB writes one by one: see ReadAheadReader.
        var reader = new ReadAheadReader(tool.StandardOutput);
        try
        {
            ReadOnlyMemory<byte> chunk;
            while (!(chunk = await reader.ReadAsync(ct).ConfigureAwait(false)).IsEmpty)
            {
                if (observe is not null) await observe(chunk).ConfigureAwait(false);
                await output.Raw.WriteAsync(chunk, ct).ConfigureAwait(false);
                meter.Add(chunk.Length);
            }
            await tool.WaitForSuccessAsync(ct).ConfigureAwait(false);
            if (afterToolSucceeded is not null) await afterToolSucceeded().ConfigureAwait(false);
            var file = await output.CommitAsync("", ct).ConfigureAwait(false);
            meter.Report();
            return file;
        }
        catch (IOException e) when (!ct.IsCancellationRequested)
        {
            tool.Kill();
            throw new PgBackupException(FailureKind.OperationFailed, $"Writing {key} to {repository.Location} failed: {e.Message}", key, e);
        }
        finally
        {
            await reader.DisposeAsync().ConfigureAwait(false);
        }
    }
}
