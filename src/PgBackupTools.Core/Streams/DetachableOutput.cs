namespace PgBackupTools.Core.Streams;

/// <summary>
/// Hands an output stream to a codec we do not control, and takes it back: after <see cref="Detach"/> every write
/// throws instead of reaching the output. Used so that disposing a failed codec (which flushes) writes nothing more.
/// Never disposes the output.
/// </summary>
internal sealed class DetachableOutput(Stream output) : Stream
{
    private bool _detached;

    public void Detach() => _detached = true;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_detached;
    public override long Length => throw new NotSupportedException();
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => Write(new ReadOnlySpan<byte>(buffer, offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureAttached();
        output.Write(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(new ReadOnlyMemory<byte>(buffer, offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        EnsureAttached();
        return output.WriteAsync(buffer, cancellationToken);
    }

    public override void Flush()
    {
        EnsureAttached();
        output.Flush();
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        EnsureAttached();
        return output.FlushAsync(cancellationToken);
    }

    private void EnsureAttached()
    {
        if (_detached)
            throw new ObjectDisposedException(nameof(DetachableOutput), "The compressor failed; nothing more is written to its output.");
    }
}
