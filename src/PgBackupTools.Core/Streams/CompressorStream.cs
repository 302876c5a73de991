using System.Runtime.ExceptionServices;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// The one protocol every compressor follows, so each codec only says how it compresses.
/// Write-only and not seekable. The first failure (of the codec, a worker or the output) is kept: every later
/// Write, Flush and the first Dispose rethrow it, so an incomplete output can never be closed as if it were complete.
/// Dispose finishes the format (trailer), flushes and, unless leaveOpen, disposes the output; it throws if any of that
/// fails. A second Dispose does nothing. Like every Stream, not safe for concurrent use.
/// </summary>
internal abstract class CompressorStream : Stream
{
    private readonly bool _leaveOpen;
    private ExceptionDispatchInfo? _failure;
    private bool _disposed;

    protected CompressorStream(Stream output, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite)
            throw new ArgumentException("The output stream is not writable.", nameof(output));
        Output = output;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Where compressed bytes go. Only the thread calling Write/Flush/Dispose touches it.</summary>
    protected Stream Output { get; }

    /// <summary>Compresses <paramref name="buffer"/>; may keep it only until the call returns.</summary>
    protected abstract void WriteCore(ReadOnlySpan<byte> buffer);
    protected abstract ValueTask WriteCoreAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Pushes everything written so far to the output, in a form a reader can decode up to here.</summary>
    protected abstract void FlushCore();
    protected abstract Task FlushCoreAsync(CancellationToken cancellationToken);

    /// <summary>Compresses what is left, writes the format's trailer and flushes the output. Called once, only if nothing failed.</summary>
    protected abstract void FinishCore();
    protected abstract ValueTask FinishCoreAsync();

    /// <summary>Frees the codec's resources (threads, buffers) without writing anything more. Called once, always.</summary>
    protected abstract void ReleaseCore();
    protected virtual ValueTask ReleaseCoreAsync()
    {
        ReleaseCore();
        return default;
    }

    public sealed override bool CanRead => false;
    public sealed override bool CanSeek => false;
    public sealed override bool CanWrite => !_disposed;
    public sealed override long Length => throw new NotSupportedException();
    public sealed override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();
    public sealed override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public sealed override int Read(Span<byte> buffer) => throw new NotSupportedException();

    public sealed override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(new ReadOnlySpan<byte>(buffer, offset, count));
    }

    public sealed override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureUsable();
        try
        {
            WriteCore(buffer);
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
    }

    public sealed override void WriteByte(byte value) => Write(new ReadOnlySpan<byte>(in value));

    public sealed override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(new ReadOnlyMemory<byte>(buffer, offset, count), cancellationToken).AsTask();
    }

    public sealed override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested(); // nothing taken yet: the stream stays usable
        EnsureUsable();
        try
        {
            await WriteCoreAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A cancelled write leaves the stream mid-block: it counts as a failure like any other.
            Fail(e);
            throw;
        }
    }

    public sealed override void Flush()
    {
        EnsureUsable();
        try
        {
            FlushCore();
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
    }

    public sealed override async Task FlushAsync(CancellationToken cancellationToken)
    {
        EnsureUsable();
        try
        {
            await FlushCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Fail(e);
            throw;
        }
    }

    protected sealed override void Dispose(bool disposing)
    {
        if (!disposing || _disposed)
        {
            base.Dispose(disposing);
            return;
        }
        _disposed = true;
        if (_failure is null)
        {
            try { FinishCore(); }
            catch (Exception e) { Fail(e); }
        }
        try { ReleaseCore(); }
        catch (Exception e) { Fail(e); }
        try
        {
            if (!_leaveOpen)
                Output.Dispose(); // a file stream flushes here: its failure is ours
        }
        catch (Exception e) { Fail(e); }
        base.Dispose(disposing);
        _failure?.Throw();
    }

    public sealed override async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_failure is null)
        {
            try { await FinishCoreAsync().ConfigureAwait(false); }
            catch (Exception e) { Fail(e); }
        }
        try { await ReleaseCoreAsync().ConfigureAwait(false); }
        catch (Exception e) { Fail(e); }
        try
        {
            if (!_leaveOpen)
                await Output.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) { Fail(e); }
        GC.SuppressFinalize(this);
        _failure?.Throw();
    }

    /// <summary>Records the first failure; later ones are consequences of it.</summary>
    protected void Fail(Exception exception) => _failure ??= ExceptionDispatchInfo.Capture(exception);

    private void EnsureUsable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _failure?.Throw();
    }
}
