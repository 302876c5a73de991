namespace PgBackupTools.Core.Streams;

/// <summary>
/// zstd through the system's libzstd (ZSTD_compressStream2). With workers, zstd copies what it is given into its
/// own job buffers and compresses on its threads; the calling thread only hands input over and writes out what is
/// ready, so compressed bytes reach <see cref="CompressorStream.Output"/> on the caller's thread, as with every
/// compressor here. After a failure the context is freed without a flush: nothing more is written.
/// </summary>
internal sealed class NativeZstdCompressor : ZstdCompressor
{
    // A whole job's output (2 MiB of dump at level 1 is ~0.7 MiB) leaves in a few writes.
    private const int OutputBufferSize = 512 * 1024;

    private readonly NativeZstd _zstd;
    private readonly NativeZstd.CompressionContext _context;
    private readonly byte[] _buffer = new byte[OutputBufferSize];

    public NativeZstdCompressor(NativeZstd zstd, Stream output, int level, bool leaveOpen, int? workers = null)
        : base(output, leaveOpen, level, workers)
    {
        _zstd = zstd;
        _context = zstd.CreateCompressionContext();
        try
        {
            if (!zstd.TrySetParameter(_context, NativeZstd.Parameter.CompressionLevel, level)
                || !zstd.TrySetParameter(_context, NativeZstd.Parameter.ChecksumFlag, 1))
                throw new ArgumentOutOfRangeException(nameof(level), level, $"{Engine} refuses this level.");
            // A libzstd built without threads refuses workers: it still compresses, on the caller's thread.
            if (Workers > 0 && !zstd.TrySetParameter(_context, NativeZstd.Parameter.NbWorkers, Workers))
                Workers = 0;
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    public override string Engine => $"libzstd {_zstd.Version / 10000}.{_zstd.Version / 100 % 100}.{_zstd.Version % 100}";

    protected override void WriteCore(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            _zstd.Compress(_context, buffer, _buffer, NativeZstd.Directive.Continue, out int consumed, out int produced);
            buffer = buffer[consumed..];
            if (produced > 0)
                Output.Write(_buffer, 0, produced);
        }
    }

    protected override async ValueTask WriteCoreAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            _zstd.Compress(_context, buffer.Span, _buffer, NativeZstd.Directive.Continue, out int consumed, out int produced);
            buffer = buffer[consumed..];
            if (produced > 0)
                await Output.WriteAsync(_buffer.AsMemory(0, produced), cancellationToken).ConfigureAwait(false);
        }
    }

    protected override void FlushCore()
    {
        Drain(NativeZstd.Directive.Flush);
        Output.Flush();
    }

    protected override async Task FlushCoreAsync(CancellationToken cancellationToken)
    {
        await DrainAsync(NativeZstd.Directive.Flush, cancellationToken).ConfigureAwait(false);
        await Output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void FinishCore()
    {
        Drain(NativeZstd.Directive.End); // the last block and the content checksum
        Output.Flush();
    }

    protected override async ValueTask FinishCoreAsync()
    {
        await DrainAsync(NativeZstd.Directive.End, CancellationToken.None).ConfigureAwait(false);
        await Output.FlushAsync().ConfigureAwait(false);
    }

    protected override void ReleaseCore() => _context.Dispose(); // joins the workers; writes nothing

    /// <summary>Repeats the directive until zstd has nothing left to give (it returns 0).</summary>
    private void Drain(NativeZstd.Directive directive)
    {
        nuint left;
        do
        {
            left = _zstd.Compress(_context, [], _buffer, directive, out _, out int produced);
            if (produced > 0)
                Output.Write(_buffer, 0, produced);
        }
        while (left != 0);
    }

    private async ValueTask DrainAsync(NativeZstd.Directive directive, CancellationToken cancellationToken)
    {
        nuint left;
        do
        {
            left = _zstd.Compress(_context, [], _buffer, directive, out _, out int produced);
            if (produced > 0)
                await Output.WriteAsync(_buffer.AsMemory(0, produced), cancellationToken).ConfigureAwait(false);
        }
        while (left != 0);
    }
}
