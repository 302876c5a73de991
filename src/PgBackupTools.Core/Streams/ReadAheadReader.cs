using System.Threading.Channels;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// Reads a stream, typically a child program's standard output pipe, on a thread of its own with plain blocking
/// reads, and hands the data over in large chunks while it goes on reading the next ones.
/// </summary>
/// <remarks>
/// pg_dump writes 8 KiB at a time. Read asynchronously, every 8 KiB costs an epoll wake-up, a thread-pool dispatch
/// and a pass through the whole chain (hash, row count, compressor): ~80,000 of them for a 631 MiB dump, which on
/// two cores cost more CPU than compressing it with libzstd. Here a blocking read() wakes just this thread, and a
/// hand-over carries at least <c>minimumChunk</c> bytes (less only at the end).
/// Even a blocking read wakes this thread, and pg_dump's writer in the kernel, once per 8 KiB. Where the pipe can
/// be grown to 1 MiB, a short read is followed by a 1 ms pause, so the next read takes what pg_dump wrote
/// meanwhile: on a 516 MB dump, 10x fewer reads and ~11% less CPU for pg_dump and this process together. pg_dump
/// waits only if it writes more than 1 MiB in that millisecond. A silent pipe costs nothing: read() blocks.
/// The thread cannot be interrupted inside read(): it ends when the stream ends, which for a pipe means the program
/// exited or was killed (PgToolProcess kills it on dispose). It is a background thread, so it never keeps the
/// process alive.
/// </remarks>
internal sealed class ReadAheadReader : IAsyncDisposable
{
    private readonly Stream _source;
    private readonly int _minimumChunk;
    private readonly Channel<(byte[] Buffer, int Length)> _filled = Channel.CreateUnbounded<(byte[], int)>(new() { SingleReader = true, SingleWriter = true });
    private readonly Channel<byte[]> _free = Channel.CreateUnbounded<byte[]>(new() { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _stop = new();
    private const int PipeSize = 1 << 20;
    private const int PauseBelow = 64 << 10;
    private readonly bool _pauseOnShortReads;
    private byte[]? _lent;
    private bool _disposed;

    /// <param name="buffers">Chunks in flight: the one the consumer holds, and the ones read ahead.</param>
    public ReadAheadReader(Stream source, int chunkSize = 1 << 20, int minimumChunk = 256 << 10, int buffers = 3)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minimumChunk, chunkSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(buffers, 2);
        _source = source;
        _minimumChunk = Math.Max(1, minimumChunk);
        _pauseOnShortReads = PipeCapacity.TryGrow(source, PipeSize);
        for (int i = 0; i < buffers; i++)
            _free.Writer.TryWrite(new byte[chunkSize]);
        new Thread(Pump) { IsBackground = true, Name = "pgbt read-ahead" }.Start();
    }

    /// <summary>
    /// The next chunk; empty at the end of the stream. It stays valid until the next call. A read that failed
    /// throws its exception here.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_lent is not null)
        {
            _free.Writer.TryWrite(_lent);
            _lent = null;
        }
        // A failed read completed the channel with its exception: WaitToReadAsync throws it.
        if (!await _filled.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !_filled.Reader.TryRead(out var chunk))
            return ReadOnlyMemory<byte>.Empty;
        _lent = chunk.Buffer;
        return chunk.Buffer.AsMemory(0, chunk.Length);
    }

    /// <summary>Stops reading ahead once the current read() returns; does not wait for it. Never disposes the source.</summary>
    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            _stop.Cancel();
        }
        return default;
    }

    private void Pump()
    {
        try
        {
            while (true)
            {
                var buffer = TakeFreeBuffer();
                int length = 0, n = 1;
                while (length < _minimumChunk && (n = _source.Read(buffer, length, buffer.Length - length)) > 0)
                {
                    length += n;
                    if (_pauseOnShortReads && length < _minimumChunk && n < PauseBelow)
                        Thread.Sleep(1); // let the pipe fill: one wake-up per ~1 ms of output, not per 8 KiB
                }
                if (length > 0)
                    _filled.Writer.TryWrite((buffer, length));
                if (n == 0)
                    break;
            }
            _filled.Writer.TryComplete();
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            _filled.Writer.TryComplete();
        }
        catch (Exception e)
        {
            _filled.Writer.TryComplete(e);
        }
    }

    private byte[] TakeFreeBuffer()
    {
        if (_free.Reader.TryRead(out var buffer))
            return buffer;
        return _free.Reader.ReadAsync(_stop.Token).AsTask().GetAwaiter().GetResult();
    }
}
