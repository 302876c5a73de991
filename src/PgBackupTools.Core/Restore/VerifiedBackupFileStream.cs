using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Restore;

/// <summary>
/// The decoded content of a stored backup file, read forward: stored bytes hashed, then decrypted (every chunk
/// authenticated), then decompressed (independent zstd frames on all cores), then the decoded bytes hashed. The read
/// that reaches the end compares both hashes with the manifest and throws <see cref="ChecksumMismatchException"/>
/// instead of returning 0, so a reader must treat what it took as unconfirmed until it has read to the end. A stream
/// too damaged to decode throws as what it is: a checksum mismatch when the stored bytes differ from the manifest.
/// Synchronous reads stay on the caller's thread; a restore extracts that way.
/// </summary>
internal sealed class VerifiedBackupFileStream : ForwardOnlyReadStream
{
    private readonly Stream _source;
    private readonly HashingStream _stored;
    private readonly Stream _decoded;
    private readonly HashingStream _raw;
    private readonly PgBackupFile _file;
    private readonly string _key;
    private bool _verified;

    private VerifiedBackupFileStream(Stream source, PgBackupFile file, string key, EncryptionKey? encryptionKey)
    {
        _source = source;
        _file = file;
        _key = key;
        _stored = new HashingStream(source, leaveOpen: true);
        var encoded = file.Encrypted ? new DecryptingStream(_stored, encryptionKey!, leaveOpen: true) : (Stream)_stored;
        _decoded = Compression.CreateDecompressor(encoded, file.Encoding, leaveOpen: true, parallel: true);
        // Without a whole-file SHA-256 (a file-copy tar: each file's is in its backup_manifest), only count.
        _raw = new HashingStream(_decoded, leaveOpen: true, computeHash: file.Sha256 is not null);
    }

    public static async Task<VerifiedBackupFileStream> OpenAsync(BackupRepository repository, PgBackup backup, PgBackupFile file, CancellationToken cancellationToken)
    {
        string key = BackupRepository.BackupFileKey(backup.Stanza, backup.Id, file.Name);
        EncryptionKey? encryptionKey = file.Encrypted ? repository.RequireKey() : null;
        var source = await repository.Store.OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
        try
        {
            return new VerifiedBackupFileStream(source, file, key, encryptionKey);
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Decoded bytes read so far.</summary>
    public long BytesRead => _raw.Length;

    public override bool CanRead => true;

    public override int Read(Span<byte> buffer)
    {
        int n;
        try
        {
            n = _raw.Read(buffer);
        }
        catch (Exception e) when (e is not OperationCanceledException and not PgBackupException)
        {
            ThrowIfStoredBytesDiffer(sync: true, CancellationToken.None).GetAwaiter().GetResult();
            throw Undecodable(e);
        }
        if (n == 0 && buffer.Length > 0) VerifyAtEndAsync(sync: true, CancellationToken.None).GetAwaiter().GetResult();
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        try
        {
            n = await _raw.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not PgBackupException)
        {
            await ThrowIfStoredBytesDiffer(sync: false, cancellationToken).ConfigureAwait(false);
            throw Undecodable(e);
        }
        if (n == 0 && buffer.Length > 0) await VerifyAtEndAsync(sync: false, cancellationToken).ConfigureAwait(false);
        return n;
    }

    /// <summary>
    /// For a consumer that gave up (pg_restore choking on damaged bytes, a tar that cannot be parsed): reads the rest
    /// of the stored bytes and throws <see cref="ChecksumMismatchException"/> if they differ from the manifest, the
    /// cause to report then. Returns if they match.
    /// </summary>
    public Task ThrowIfStoredBytesDifferAsync(CancellationToken cancellationToken) => ThrowIfStoredBytesDiffer(sync: false, cancellationToken).AsTask();

    /// <inheritdoc cref="ThrowIfStoredBytesDifferAsync"/>
    public void ThrowIfStoredBytesDiffer() => ThrowIfStoredBytesDiffer(sync: true, CancellationToken.None).GetAwaiter().GetResult();

    private PgBackupException Undecodable(Exception e) => e is EncryptedDataException
        ? new PgBackupException(FailureKind.InvalidData, $"'{_key}' fails decryption although its checksum matches the manifest: {e.Message} Do not trust this backup.", _key, e)
        : new PgBackupException(FailureKind.InvalidData, $"'{_key}' cannot be decoded ({e.Message}) although its checksum matches.", _key, e);

    private async ValueTask VerifyAtEndAsync(bool sync, CancellationToken cancellationToken)
    {
        if (_verified) return;
        await ThrowIfStoredBytesDiffer(sync, cancellationToken).ConfigureAwait(false);
        if (_file.Sha256 is not null && _raw.Sha256Hex != _file.Sha256)
            throw new ChecksumMismatchException(_key + " (decoded)", _file.Sha256, _raw.Sha256Hex);
        _verified = true;
    }

    // Drains anything after the compressed stream's end, so the stored hash covers the whole object.
    private async ValueTask ThrowIfStoredBytesDiffer(bool sync, CancellationToken cancellationToken)
    {
        if (sync) _stored.CopyTo(Stream.Null);
        else await _stored.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        string actual = _stored.Sha256Hex;
        if (actual != _file.StoredSha256) throw new ChecksumMismatchException(_key, _file.StoredSha256, actual);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _raw.Dispose();
            _decoded.Dispose();
            _stored.Dispose();
            _source.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _raw.DisposeAsync().ConfigureAwait(false);
        await _decoded.DisposeAsync().ConfigureAwait(false);
        await _stored.DisposeAsync().ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
