using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// One backup file on its way into the repository: what is written to <see cref="Raw"/> goes through
/// raw hash -> compressor -> [encryptor] -> stored hash -> store. Compression comes first (ciphertext does not
/// compress), and what is actually stored is hashed so Test-PgBackup can check it without the key. Nothing becomes
/// visible before <see cref="CommitAsync"/>; disposing without it abandons the object.
/// </summary>
internal sealed class BackupObjectWriter : IAsyncDisposable
{
    private readonly ObjectWriteStream _store;
    private readonly HashingStream? _stored;
    private readonly Stream? _encryptor;
    private readonly Stream _compressor;
    private readonly HashingStream _raw;
    private readonly CompressionKind _encoding;
    private readonly bool _hashRaw;
    private bool _committed;

    private BackupObjectWriter(ObjectWriteStream store, CompressionKind encoding, int? level, EncryptionKey? key, bool independentFrames, bool hashRaw)
    {
        _store = store;
        _encoding = encoding;
        _hashRaw = hashRaw || (encoding == CompressionKind.None && key is null); // then the raw bytes are the stored ones
        // When nothing transforms the bytes (custom archives, no compression) they are hashed once: on two cores a
        // second SHA-256 pass costs a tenth of the backup.
        _stored = encoding == CompressionKind.None && key is null ? null : new HashingStream(store, leaveOpen: true);
        Stream storeSide = (Stream?)_stored ?? store;
        _encryptor = key is null ? null : new EncryptingStream(storeSide, key, leaveOpen: true);
        _compressor = Compression.CreateCompressor(_encryptor ?? storeSide, encoding, level, leaveOpen: true, independentFrames);
        _raw = new HashingStream(_compressor, leaveOpen: true, computeHash: _hashRaw);
    }

    /// <param name="hashRaw">False where the content carries its own checksums (a file-copy tar: every file's SHA-256 in
    /// its backup_manifest, which a restore checks): one SHA-256 pass less, and the file's Sha256 stays null.</param>
    public static async Task<BackupObjectWriter> CreateAsync(BackupRepository repository, string key, CompressionKind encoding, int? level,
        EncryptionKey? encryptionKey, CancellationToken ct, bool independentFrames = false, bool hashRaw = true)
    {
        var store = await repository.Store.CreateAsync(key, overwrite: false, ct).ConfigureAwait(false);
        try
        {
            return new BackupObjectWriter(store, encoding, level, encryptionKey, independentFrames, hashRaw);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Where the backup file's content goes, uncompressed and in the clear.</summary>
    public Stream Raw => _raw;

    /// <summary>Flushes the compressor and the encryptor, makes the object visible and describes it.</summary>
    public async Task<PgBackupFile> CommitAsync(string name, CancellationToken ct)
    {
        await _compressor.DisposeAsync().ConfigureAwait(false);
        if (_encryptor is not null) await _encryptor.DisposeAsync().ConfigureAwait(false); // writes the final chunk
        await _store.CommitAsync(ct).ConfigureAwait(false);
        _committed = true;
        return new PgBackupFile
        {
            Name = name, Bytes = _raw.Length, Sha256 = _hashRaw ? _raw.Sha256Hex : null, StoredBytes = _stored?.Length ?? _raw.Length,
            StoredSha256 = _stored?.Sha256Hex ?? _raw.Sha256Hex, Encoding = _encoding, Encrypted = _encryptor is not null,
        };
    }

    public async ValueTask DisposeAsync()
    {
        // After a failure the compressor may fail again while flushing; the first error is the one that matters.
        try { await _compressor.DisposeAsync().ConfigureAwait(false); }
        catch (Exception) when (!_committed) { }
        // An aborted encryptor still seals its output on dispose; harmless, as the object is never committed.
        try { if (_encryptor is not null) await _encryptor.DisposeAsync().ConfigureAwait(false); }
        catch (Exception) when (!_committed) { }
        await _store.DisposeAsync().ConfigureAwait(false);
    }
}
