namespace PgBackupTools.Core.Streams;

/// <summary>
/// Reads a zstd stream with its frames decoded on every core: the reading thread cuts the input at frame boundaries
/// (<see cref="ZstdFrameSplitter"/>, headers only), workers decode whole frames (<see cref="ZstdFrameCodec"/>,
/// content checksums verified), and reads return their content in order. A frame that cannot be cut out (no content
/// size in its header, or larger than <see cref="ZstdFrameSplitter.MaxFrameContent"/>: every stream written by a
/// streaming compressor, e.g. backups before <see cref="ZstdFrameCompressor"/>) is decoded from there to the end by
/// a streaming decoder on the reading thread, as <see cref="Compression.CreateDecompressor"/> always did.
/// Memory is bounded: at most two frames per worker are read ahead. Damage throws <see cref="InvalidDataException"/>.
/// </summary>
internal sealed class ZstdFrameDecompressor : ForwardOnlyReadStream
{
    private readonly Stream _input;
    private readonly bool _leaveOpen;
    private readonly ZstdFrameSplitter _splitter;
    private readonly ZstdFrameCodec _codec;
    private readonly BlockWorkers<ZstdEncodedFrame> _workers;
    private readonly int _maxInFlight;
    private readonly Queue<ZstdEncodedFrame> _inFlight = new();
    private readonly Stack<ZstdEncodedFrame> _spare = new();
    private ZstdEncodedFrame? _current;
    private int _offset;
    private Stream? _streaming;
    private bool _inputDone;
    private bool _disposed;

    public ZstdFrameDecompressor(Stream input, bool leaveOpen, int workers = 0, ZstdFrameCodec? codec = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        _input = input;
        _leaveOpen = leaveOpen;
        _splitter = new ZstdFrameSplitter(input);
        _codec = codec ?? ZstdFrameCodec.Create(ZstdCompressor.DefaultLevel);
        if (workers == 0)
            workers = ZstdFrameCompressor.DefaultWorkers;
        _workers = new BlockWorkers<ZstdEncodedFrame>(workers, "unzstd");
        _maxInFlight = 2 * workers;
    }

    /// <summary>Frames decoded by the workers so far (not counting what a streaming decoder read), for tests and diagnostics.</summary>
    internal int FramesDecoded { get; private set; }

    /// <summary>True once a frame could not be split and the rest is being read by a streaming decoder.</summary>
    internal bool Streaming => _streaming is not null;

    public override bool CanRead => !_disposed;

    // A synchronous reader reads the input and waits for the workers on its own thread: no thread-pool hops.
    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
            return 0;
        if (NextContentAsync(sync: true, CancellationToken.None).GetAwaiter().GetResult())
            return TakeContent(buffer);
        try
        {
            return _streaming?.Read(buffer) ?? 0;
        }
        catch (ZstdSharp.ZstdException e)
        {
            throw StreamingDamaged(e);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (buffer.IsEmpty)
            return 0;
        if (await NextContentAsync(sync: false, cancellationToken).ConfigureAwait(false))
            return TakeContent(buffer.Span);
        try
        {
            return _streaming is null ? 0 : await _streaming.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (ZstdSharp.ZstdException e)
        {
            throw StreamingDamaged(e);
        }
    }

    private int TakeContent(Span<byte> buffer)
    {
        var content = _current!.Content;
        int n = Math.Min(content.Length - _offset, buffer.Length);
        content.Slice(_offset, n).Span.CopyTo(buffer);
        _offset += n;
        return n;
    }

    private InvalidDataException StreamingDamaged(ZstdSharp.ZstdException e) => new($"The zstd stream is damaged after frame {FramesDecoded}: {e.Message}", e);

    /// <summary>
    /// True when the current decoded frame has content left; false when the frames are done (the rest, if any, is for
    /// the streaming decoder). With sync, the input is read and the workers are waited for on the caller's thread.
    /// </summary>
    private async ValueTask<bool> NextContentAsync(bool sync, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_current is { } current)
            {
                if (current.Content.Length > _offset)
                    return true;
                current.Reset();
                _spare.Push(current);
                _current = null;
            }
            await ReadAheadAsync(sync, cancellationToken).ConfigureAwait(false);
            if (!_inFlight.TryDequeue(out var head))
                return false;
            try
            {
                if (sync) head.Done.GetAwaiter().GetResult();
                else await head.Done.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"Frame {FramesDecoded + 1} of the zstd stream is damaged: {e.Message}", e);
            }
            FramesDecoded++;
            _current = head;
            _offset = 0;
        }
    }

    /// <summary>Cuts frames out of the input and hands them to the workers until enough are in flight.</summary>
    private async ValueTask ReadAheadAsync(bool sync, CancellationToken cancellationToken)
    {
        while (!_inputDone && _inFlight.Count < _maxInFlight)
        {
            var frame = _spare.TryPop(out var spare) ? spare : new ZstdEncodedFrame(_codec);
            var kind = sync ? _splitter.Next(frame) : await _splitter.NextAsync(frame, cancellationToken).ConfigureAwait(false);
            if (kind == ZstdFrameSplitter.FrameKind.Frame)
            {
                _workers.Post(frame);
                _inFlight.Enqueue(frame);
                continue;
            }
            _spare.Push(frame);
            _inputDone = true;
            if (kind == ZstdFrameSplitter.FrameKind.Unsplittable)
                _streaming = Compression.CreateDecompressor(_splitter.Remainder(), CompressionKind.Zstd, leaveOpen: true);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            Release();
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
        Release();
        if (!_leaveOpen)
            await _input.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    // Frames still queued are skipped; the workers end before the contexts they used are freed.
    private void Release()
    {
        _workers.Abandon();
        _workers.Dispose();
        _streaming?.Dispose();
        _codec.Dispose();
        _inFlight.Clear();
        _spare.Clear();
        _current = null;
    }
}
