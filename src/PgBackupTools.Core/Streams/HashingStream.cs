using System.Security.Cryptography;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// Pass-through stream that computes the SHA-256 and counts the bytes of everything that goes through it, in either
/// direction: wrap a stream you read from, or one you write to. Once the data is done, <see cref="Sha256Hex"/>
/// (lowercase hex) and <see cref="Length"/> are final. Disposing also finalizes the hash, so both stay readable
/// after a <c>using</c> block. Not seekable; like every Stream, not safe for concurrent use.
/// </summary>
public sealed class HashingStream : Stream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly bool _computeHash;
    private IncrementalHash? _hash;
    private string? _sha256Hex;
    private long _length;
    private bool _disposed;

    /// <param name="computeHash">False: only count the bytes (where another check covers the content).</param>
    public HashingStream(Stream inner, bool leaveOpen = false, bool computeHash = true)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.CanRead && !inner.CanWrite)
            throw new ArgumentException("The stream is neither readable nor writable.", nameof(inner));
        _inner = inner;
        _leaveOpen = leaveOpen;
        _computeHash = computeHash;
        _hash = computeHash ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
    }

    /// <summary>Bytes passed through so far.</summary>
    public override long Length => _length;

    /// <summary>
    /// SHA-256 of the bytes passed through, lowercase hex. The first call finalizes the hash: reading or writing
    /// afterwards throws <see cref="InvalidOperationException"/>.
    /// </summary>
    public string Sha256Hex => _sha256Hex ??= _computeHash ? FinalizeHash() : throw new InvalidOperationException("This HashingStream only counts bytes (computeHash: false).");

    public override bool CanRead => !_disposed && _inner.CanRead;
    public override bool CanWrite => !_disposed && _inner.CanWrite;
    public override bool CanSeek => false;

    /// <summary>Same as <see cref="Length"/>; cannot be set.</summary>
    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(new Span<byte>(buffer, offset, count));
    }

    public override int Read(Span<byte> buffer)
    {
        var hash = EnsureOpen();
        int n = _inner.Read(buffer);
        Add(hash, buffer[..n]);
        return n;
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(new Memory<byte>(buffer, offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var hash = EnsureOpen();
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Add(hash, buffer.Span[..n]);
        return n;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(new ReadOnlySpan<byte>(buffer, offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        var hash = EnsureOpen();
        _inner.Write(buffer);
        Add(hash, buffer);
    }

    public override void WriteByte(byte value) => Write(new ReadOnlySpan<byte>(in value));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(new ReadOnlyMemory<byte>(buffer, offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var hash = EnsureOpen();
        await _inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        Add(hash, buffer.Span);
    }

    public override void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_inner.CanWrite)
            _inner.Flush();
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _inner.CanWrite ? _inner.FlushAsync(cancellationToken) : Task.CompletedTask;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (_computeHash) _ = Sha256Hex;
            if (!_leaveOpen)
                _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_computeHash) _ = Sha256Hex;
        if (!_leaveOpen)
            await _inner.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    // Bytes are counted after the inner stream took (or gave) them: a failed write adds nothing.
    private void Add(IncrementalHash? hash, ReadOnlySpan<byte> data)
    {
        hash?.AppendData(data);
        _length += data.Length;
    }

    private IncrementalHash? EnsureOpen()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_computeHash) return null;
        return _hash ?? throw new InvalidOperationException("The SHA-256 was already read: no more data can pass through this HashingStream.");
    }

    private string FinalizeHash()
    {
        var hash = _hash!;
        _hash = null;
        using (hash)
            return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }
}
