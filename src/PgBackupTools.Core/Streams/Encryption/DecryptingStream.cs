using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// A read-only stream that decrypts format 1 (docs/encryption-format.md) from an inner stream.
/// A chunk's plaintext is released only after its tag has verified; a chunk that fails, a missing
/// final chunk, or data after it raise <see cref="EncryptedDataException"/>, and every later read
/// raises it again. Chunks before the failure were authentic and have been released already, so a
/// consumer must treat output as good only once it has read to the end without an exception
/// (<see cref="EncryptedFile"/> does this with a temp file). Memory: one ciphertext and one
/// plaintext chunk. The header is read on the first read, so construction does no I/O.
/// </summary>
public sealed class DecryptingStream : Stream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly byte[] _aad = new byte[EncryptionFormat.AadSize];
    private readonly byte[] _nonce = new byte[EncryptionFormat.NonceSize];
    private readonly byte[] _expectedKeyId;
    private readonly string _expectedKeyIdHex;
    private EncryptionKey? _key;
    private AesGcm? _aes;
    private int _chunkSize;
    private byte[]? _cipher;      // pooled: one chunk's ciphertext + tag
    private byte[]? _plain;       // pooled: one verified chunk's plaintext
    private int _plainOffset;
    private int _plainCount;
    private long _chunkIndex;
    private bool _headerRead;
    private bool _finished;
    private EncryptedDataException? _failure;
    private bool _readFailed;
    private bool _disposed;

    /// <param name="inner">The ciphertext, read sequentially from its current position.</param>
    /// <param name="key">The repository key; the file key is derived from it and the header's salt.</param>
    /// <param name="leaveOpen">Leave <paramref name="inner"/> open on dispose.</param>
    public DecryptingStream(Stream inner, EncryptionKey key, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(key);
        if (!inner.CanRead) throw new ArgumentException("The inner stream must be readable.", nameof(inner));
        EncryptionFormat.EnsureAesGcmSupported();
        _inner = inner;
        _leaveOpen = leaveOpen;
        _key = key;
        _expectedKeyId = key.KeyIdBytes.ToArray();
        _expectedKeyIdHex = key.KeyId;
    }

    /// <summary>Plaintext bytes per chunk, from the header; 0 until the header has been read.</summary>
    public int ChunkSize => _chunkSize;

    /// <summary>True once the final chunk has verified: all the plaintext is authentic and complete.</summary>
    public bool IsComplete => _finished;

    public override bool CanRead => !_disposed;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 0 ? -1 : one[0];
    }

    public override int Read(Span<byte> buffer)
    {
        EnsureReadable();
        if (buffer.IsEmpty) return 0;
        while (_plainCount == 0)
        {
            if (_finished) return 0;
            if (!_headerRead)
            {
                int got = Fill(_aad.AsSpan(0, EncryptionFormat.HeaderSize));
                AcceptHeader(got);
            }
            OpenChunk(Fill(_cipher.AsSpan(0, _chunkSize + EncryptionFormat.TagSize)));
        }
        return TakePlaintext(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureReadable();
        if (buffer.IsEmpty) return 0;
        while (_plainCount == 0)
        {
            if (_finished) return 0;
            if (!_headerRead)
            {
                int got = await FillAsync(_aad.AsMemory(0, EncryptionFormat.HeaderSize), cancellationToken).ConfigureAwait(false);
                AcceptHeader(got);
            }
            OpenChunk(await FillAsync(_cipher.AsMemory(0, _chunkSize + EncryptionFormat.TagSize), cancellationToken).ConfigureAwait(false));
        }
        return TakePlaintext(buffer.Span);
    }

    public override void CopyTo(Stream destination, int bufferSize)
    {
        ArgumentNullException.ThrowIfNull(destination);
        EnsureReadable();
        // Hand over whole verified chunks: no intermediate copy.
        while (true)
        {
            if (_plainCount == 0)
            {
                if (_finished) return;
                if (!_headerRead) AcceptHeader(Fill(_aad.AsSpan(0, EncryptionFormat.HeaderSize)));
                OpenChunk(Fill(_cipher.AsSpan(0, _chunkSize + EncryptionFormat.TagSize)));
                continue;
            }
            destination.Write(_plain!, _plainOffset, _plainCount);
            _plainOffset += _plainCount;
            _plainCount = 0;
        }
    }

    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        EnsureReadable();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_plainCount == 0)
            {
                if (_finished) return;
                if (!_headerRead)
                    AcceptHeader(await FillAsync(_aad.AsMemory(0, EncryptionFormat.HeaderSize), cancellationToken).ConfigureAwait(false));
                OpenChunk(await FillAsync(_cipher.AsMemory(0, _chunkSize + EncryptionFormat.TagSize), cancellationToken).ConfigureAwait(false));
                continue;
            }
            await destination.WriteAsync(_plain.AsMemory(_plainOffset, _plainCount), cancellationToken).ConfigureAwait(false);
            _plainOffset += _plainCount;
            _plainCount = 0;
        }
    }

    public override void Flush() { }
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("A DecryptingStream is read-only.");
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException("A DecryptingStream cannot seek.");
    public override void SetLength(long value) => throw new NotSupportedException("A DecryptingStream cannot seek.");

    protected override void Dispose(bool disposing)
    {
        if (!_disposed && disposing)
        {
            _disposed = true;
            Release();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        Release();
        if (!_leaveOpen) await _inner.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Checks the header now in <see cref="_aad"/>, derives the file key and allocates the chunk buffers.</summary>
    private void AcceptHeader(int bytesRead)
    {
        if (bytesRead < EncryptionFormat.HeaderSize) Fail(EncryptedDataException.TruncatedInHeader(bytesRead));
        int chunkSize;
        try
        {
            chunkSize = EncryptionFormat.ValidateHeader(_aad.AsSpan(0, EncryptionFormat.HeaderSize), _expectedKeyId, _expectedKeyIdHex);
        }
        catch (EncryptedDataException e)
        {
            _failure = e;
            throw;
        }

        Span<byte> fileKey = stackalloc byte[EncryptionFormat.KeySize];
        try
        {
            _key!.DeriveFileKey(_aad.AsSpan(EncryptionFormat.FileSaltOffset, EncryptionFormat.FileSaltSize), fileKey);
            _aes = new AesGcm(fileKey, EncryptionFormat.TagSize);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
        }
        _key = null; // the master key is not needed any more; the caller may dispose it
        _chunkSize = chunkSize;
        _cipher = ArrayPool<byte>.Shared.Rent(chunkSize + EncryptionFormat.TagSize);
        _plain = ArrayPool<byte>.Shared.Rent(chunkSize);
        _headerRead = true;
    }

    /// <summary>
    /// Authenticates and decrypts the chunk of <paramref name="length"/> bytes now in <see cref="_cipher"/>.
    /// A full-size chunk is not final; a shorter one (reached end of input) must be the final chunk.
    /// </summary>
    private void OpenChunk(int length)
    {
        if (length == 0) Fail(EncryptedDataException.TruncatedBeforeChunk(_chunkIndex));
        if (length < EncryptionFormat.TagSize) Fail(EncryptedDataException.TruncatedInChunk(_chunkIndex));

        bool isFinal = length < _chunkSize + EncryptionFormat.TagSize;
        int plainLength = length - EncryptionFormat.TagSize;
        EncryptionFormat.WriteNonce(_nonce, _chunkIndex);
        EncryptionFormat.SetAadChunk(_aad, _chunkIndex, isFinal);
        try
        {
            // Decrypts into our own buffer; on a tag mismatch AesGcm zeroes it, and we release nothing.
            _aes!.Decrypt(_nonce,
                _cipher.AsSpan(0, plainLength),
                _cipher.AsSpan(plainLength, EncryptionFormat.TagSize),
                _plain.AsSpan(0, plainLength),
                _aad);
        }
        catch (AuthenticationTagMismatchException e)
        {
            CryptographicOperations.ZeroMemory(_plain.AsSpan(0, plainLength));
            Fail(EncryptedDataException.AuthenticationFailed(_chunkIndex, e));
        }
        _chunkIndex++;
        _plainOffset = 0;
        _plainCount = plainLength;
        _finished = isFinal;
    }

    private int TakePlaintext(Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, _plainCount);
        _plain.AsSpan(_plainOffset, n).CopyTo(buffer);
        _plainOffset += n;
        _plainCount -= n;
        return n;
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the input ends; returns the bytes read.</summary>
    private int Fill(Span<byte> buffer)
    {
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = _inner.Read(buffer[total..]);
                if (n == 0) break;
                total += n;
            }
        }
        catch
        {
            _readFailed = true; // a partly read chunk: the position in the input is lost
            throw;
        }
        return total;
    }

    private async ValueTask<int> FillAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = await _inner.ReadAsync(buffer[total..], cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                total += n;
            }
        }
        catch
        {
            _readFailed = true;
            throw;
        }
        return total;
    }

    [DoesNotReturn]
    private void Fail(EncryptedDataException failure)
    {
        _failure = failure;
        throw failure;
    }

    private void EnsureReadable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_failure is not null)
            throw new EncryptedDataException(_failure.Reason, _failure.ChunkIndex, _failure.Message);
        if (_readFailed)
            throw new IOException("An earlier read from the encrypted input failed or was cancelled; this DecryptingStream cannot continue.");
    }

    private void Release()
    {
        _aes?.Dispose();
        _key = null;
        if (_cipher is not null)
        {
            ArrayPool<byte>.Shared.Return(_cipher);
            _cipher = null;
        }
        if (_plain is not null)
        {
            ArrayPool<byte>.Shared.Return(_plain, clearArray: true);
            _plain = null;
        }
        _plainCount = 0;
    }
}
