using System.Buffers;
using System.Security.Cryptography;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// A write-only stream that encrypts what is written to it into format 1 (docs/encryption-format.md)
/// on an inner stream: a 56-byte header, then AES-256-GCM chunks of <see cref="ChunkSize"/> plaintext
/// bytes, each sealed with its index and a final flag. Chain it after compression
/// (compress, then encrypt). <see cref="Dispose()"/> (or <see cref="FlushFinalChunk"/>) writes the final
/// chunk, which is always shorter than a full chunk (it may be empty), so an empty input still gives a
/// header and one empty final chunk. Memory: one plaintext and one ciphertext chunk.
/// </summary>
/// <remarks>
/// <see cref="Flush"/> cannot emit a partial chunk (only the final chunk may be short); it flushes the
/// chunks already complete. Disposing while an exception unwinds still seals the stream, exactly as
/// GZipStream does: a caller that aborts must not commit the output (the repository's
/// manifest-last rule). If writing to the inner stream failed, Dispose writes nothing more.
/// </remarks>
public sealed class EncryptingStream : Stream
{
    public const int DefaultChunkSize = EncryptionFormat.DefaultChunkSize;

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly int _chunkSize;
    private readonly AesGcm _aes;
    private readonly byte[] _aad = new byte[EncryptionFormat.AadSize];
    private readonly byte[] _nonce = new byte[EncryptionFormat.NonceSize];
    private byte[]? _plain;     // pooled, chunkSize bytes: the chunk being filled
    private byte[]? _output;    // pooled, header + chunkSize + tag bytes: what goes to the inner stream
    private int _plainCount;
    private long _chunkIndex;
    private bool _headerPending = true;
    private bool _finished;
    private bool _faulted;
    private bool _disposed;
    private long _plaintextLength;

    /// <param name="inner">Where the ciphertext goes; written sequentially, never sought.</param>
    /// <param name="key">The repository key; a random per-file key is derived from it now.</param>
    /// <param name="leaveOpen">Leave <paramref name="inner"/> open on dispose.</param>
    /// <param name="chunkSize">Plaintext bytes per chunk, recorded in the header (16 B .. 16 MiB).</param>
    public EncryptingStream(Stream inner, EncryptionKey key, bool leaveOpen = false, int chunkSize = DefaultChunkSize)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, EncryptionFormat.MinChunkSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunkSize, EncryptionFormat.MaxChunkSize);
        if (!inner.CanWrite) throw new ArgumentException("The inner stream must be writable.", nameof(inner));
        EncryptionFormat.EnsureAesGcmSupported();

        _inner = inner;
        _leaveOpen = leaveOpen;
        _chunkSize = chunkSize;

        Span<byte> fileSalt = stackalloc byte[EncryptionFormat.FileSaltSize];
        RandomNumberGenerator.Fill(fileSalt);
        Span<byte> fileKey = stackalloc byte[EncryptionFormat.KeySize];
        try
        {
            key.DeriveFileKey(fileSalt, fileKey);
            _aes = new AesGcm(fileKey, EncryptionFormat.TagSize);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
        }
        EncryptionFormat.WriteHeader(_aad, chunkSize, key.KeyIdBytes, fileSalt);

        _plain = ArrayPool<byte>.Shared.Rent(chunkSize);
        _output = ArrayPool<byte>.Shared.Rent(EncryptionFormat.HeaderSize + chunkSize + EncryptionFormat.TagSize);
    }

    /// <summary>Plaintext bytes per chunk, as recorded in the header.</summary>
    public int ChunkSize => _chunkSize;

    /// <summary>Plaintext bytes written so far.</summary>
    public long PlaintextLength => _plaintextLength;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_disposed && !_finished;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureWritable();
        while (!buffer.IsEmpty)
        {
            if (_plainCount == 0 && buffer.Length >= _chunkSize)
            {
                // A whole chunk straight from the caller's buffer: no copy.
                int length = SealChunk(buffer[.._chunkSize], isFinal: false);
                WriteInner(length);
                buffer = buffer[_chunkSize..];
                _plaintextLength += _chunkSize;
                continue;
            }
            int n = Math.Min(buffer.Length, _chunkSize - _plainCount);
            buffer[..n].CopyTo(_plain.AsSpan(_plainCount));
            _plainCount += n;
            _plaintextLength += n;
            buffer = buffer[n..];
            if (_plainCount == _chunkSize)
            {
                int length = SealChunk(_plain.AsSpan(0, _chunkSize), isFinal: false);
                _plainCount = 0;
                WriteInner(length);
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureWritable();
        while (!buffer.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int length;
            if (_plainCount == 0 && buffer.Length >= _chunkSize)
            {
                length = SealChunk(buffer.Span[.._chunkSize], isFinal: false);
                buffer = buffer[_chunkSize..];
                _plaintextLength += _chunkSize;
            }
            else
            {
                int n = Math.Min(buffer.Length, _chunkSize - _plainCount);
                buffer[..n].CopyTo(_plain.AsMemory(_plainCount));
                _plainCount += n;
                _plaintextLength += n;
                buffer = buffer[n..];
                if (_plainCount < _chunkSize) continue;
                length = SealChunk(_plain.AsSpan(0, _chunkSize), isFinal: false);
                _plainCount = 0;
            }
            await WriteInnerAsync(length, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Flushes the inner stream. Buffered plaintext short of a full chunk stays buffered.</summary>
    public override void Flush()
    {
        if (_disposed || _faulted) return;
        _inner.Flush();
    }

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _disposed || _faulted ? Task.CompletedTask : _inner.FlushAsync(cancellationToken);

    /// <summary>
    /// Encrypts the buffered plaintext as the final chunk, writes it and flushes the inner stream.
    /// Nothing can be written afterwards. Called by Dispose if not called before; idempotent.
    /// </summary>
    public void FlushFinalChunk()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished) return;
        EnsureNotFaulted();
        int length = SealChunk(_plain.AsSpan(0, _plainCount), isFinal: true);
        _finished = true;
        WriteInner(length);
        _inner.Flush();
    }

    /// <inheritdoc cref="FlushFinalChunk"/>
    public async ValueTask FlushFinalChunkAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished) return;
        EnsureNotFaulted();
        int length = SealChunk(_plain.AsSpan(0, _plainCount), isFinal: true);
        _finished = true;
        await WriteInnerAsync(length, cancellationToken).ConfigureAwait(false);
        await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (_disposed || !disposing)
        {
            base.Dispose(disposing);
            return;
        }
        try
        {
            if (!_finished && !_faulted) FlushFinalChunk();
        }
        finally
        {
            _disposed = true;
            Release();
            if (!_leaveOpen) _inner.Dispose();
            base.Dispose(disposing);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        try
        {
            if (!_finished && !_faulted) await FlushFinalChunkAsync().ConfigureAwait(false);
        }
        finally
        {
            _disposed = true;
            Release();
            if (!_leaveOpen) await _inner.DisposeAsync().ConfigureAwait(false);
            GC.SuppressFinalize(this);
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("An EncryptingStream is write-only.");
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("An EncryptingStream cannot seek.");
    public override void SetLength(long value) => throw new NotSupportedException("An EncryptingStream cannot seek.");

    /// <summary>Encrypts one chunk into <see cref="_output"/> (after the header, first time) and returns the bytes to write.</summary>
    private int SealChunk(ReadOnlySpan<byte> plaintext, bool isFinal)
    {
        byte[] output = _output!;
        int offset = 0;
        if (_headerPending)
        {
            _aad.AsSpan(0, EncryptionFormat.HeaderSize).CopyTo(output);
            offset = EncryptionFormat.HeaderSize;
        }
        EncryptionFormat.WriteNonce(_nonce, _chunkIndex);
        EncryptionFormat.SetAadChunk(_aad, _chunkIndex, isFinal);
        _aes.Encrypt(_nonce, plaintext,
            output.AsSpan(offset, plaintext.Length),
            output.AsSpan(offset + plaintext.Length, EncryptionFormat.TagSize),
            _aad);
        _chunkIndex++;
        return offset + plaintext.Length + EncryptionFormat.TagSize;
    }

    private void WriteInner(int length)
    {
        try
        {
            _inner.Write(_output!, 0, length);
            _headerPending = false;
        }
        catch
        {
            _faulted = true;
            throw;
        }
    }

    private async ValueTask WriteInnerAsync(int length, CancellationToken cancellationToken)
    {
        try
        {
            await _inner.WriteAsync(_output.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            _headerPending = false;
        }
        catch
        {
            _faulted = true;
            throw;
        }
    }

    private void EnsureWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_finished) throw new InvalidOperationException("The final chunk has been written; nothing more can be written to this EncryptingStream.");
        EnsureNotFaulted();
    }

    private void EnsureNotFaulted()
    {
        if (_faulted)
            throw new InvalidOperationException("An earlier write to the inner stream failed; this EncryptingStream cannot continue.");
    }

    private void Release()
    {
        _aes.Dispose();
        if (_plain is not null)
        {
            ArrayPool<byte>.Shared.Return(_plain, clearArray: true);
            _plain = null;
        }
        if (_output is not null)
        {
            ArrayPool<byte>.Shared.Return(_output);
            _output = null;
        }
        CryptographicOperations.ZeroMemory(_aad);
    }
}
