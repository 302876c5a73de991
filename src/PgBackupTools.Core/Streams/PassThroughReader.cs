namespace PgBackupTools.Core.Streams;

/// <summary>
/// The input's bytes unchanged; disposes the input unless leaveOpen. As <see cref="CompressionKind.None"/>'s
/// decompressor; and under a codec's decoder with <c>rejectEmpty</c>, because a compressed stream is never 0 bytes
/// (even empty data has a header) while decoders such as K4os and ZstdSharp read 0 bytes as empty data.
/// </summary>
internal sealed class PassThroughReader : ForwardOnlyReadStream
{
    private readonly Stream _input;
    private readonly bool _leaveOpen;
    private readonly bool _rejectEmpty;
    private bool _sawData;
    private bool _disposed;

    public PassThroughReader(Stream input, bool leaveOpen, bool rejectEmpty = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.CanRead)
            throw new ArgumentException("The input stream is not readable.", nameof(input));
        _input = input;
        _leaveOpen = leaveOpen;
        _rejectEmpty = rejectEmpty;
    }

    public override bool CanRead => !_disposed;
    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Check(_input.Read(buffer), buffer.Length);
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Check(await _input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false), buffer.Length);
    }

    private int Check(int read, int requested)
    {
        if (read > 0)
            _sawData = true;
        else if (_rejectEmpty && !_sawData && requested > 0)
            throw new InvalidDataException("The compressed input is empty (0 bytes): the file is truncated or was never written.");
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            if (!_leaveOpen)
                _input.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (!_leaveOpen)
            await _input.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}
