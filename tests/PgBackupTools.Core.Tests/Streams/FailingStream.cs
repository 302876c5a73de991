namespace PgBackupTools.Core.Tests.Streams;

/// <summary>
/// An output that accepts <c>acceptBytes</c> bytes and then throws on every write (a full disk, a dropped connection).
/// Records what it accepted, so a test can see nothing more arrived after the failure.
/// </summary>
internal sealed class FailingStream(long acceptBytes, bool failOnDispose = false) : Stream
{
    public MemoryStream Accepted { get; } = new();
    public int FailedWrites { get; private set; }
    public bool Disposed { get; private set; }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }
    public override void Flush()
    {
    }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Accepted.Length + buffer.Length > acceptBytes)
        {
            FailedWrites++;
            throw new IOException("No space left on device (injected).");
        }
        Accepted.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return default;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !Disposed)
        {
            Disposed = true;
            if (failOnDispose)
                throw new IOException("Flush on close failed (injected).");
        }
        base.Dispose(disposing);
    }
}
