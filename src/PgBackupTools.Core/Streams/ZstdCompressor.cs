using ZstdSharp;
using ZstdSharp.Unsafe;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// zstd through ZstdSharp with its own worker threads (ZSTD_c_nbWorkers): one frame with a content checksum, which
/// `zstd -d` reads and verifies. The output is lent through <see cref="DetachableOutput"/> so that after a failure
/// disposing ZstdSharp's stream (which flushes, then frees the context and joins its workers) writes nothing more.
/// </summary>
/// <remarks>
/// Not <c>Compressor.WrapStream</c>: in ZstdSharp 0.8.8 it loops until its output buffer is full, which with workers
/// (no output yet, input all taken) never happens: it spins forever.
/// </remarks>
internal sealed class ZstdCompressor : CompressorStream
{
    /// <summary>
    /// Level 1: on SQL dumps, with 2 workers, about twice the throughput of level 3 at the same ratio (on the audit
    /// workload even a better one); see the streams benchmark.
    /// </summary>
    public const int DefaultLevel = 1;

    private const int OutputBufferSize = 256 * 1024;

    private readonly DetachableOutput _output;
    private readonly CompressionStream _zstd;

    /// <param name="workers">Null: <see cref="WorkersFor"/> this level on this machine. 0: zstd's single-threaded mode.</param>
    public ZstdCompressor(Stream output, int level, bool leaveOpen, int? workers = null)
        : base(output, leaveOpen)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, MinLevel);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, MaxLevel);
        if (workers < 0)
            throw new ArgumentOutOfRangeException(nameof(workers));
        Workers = workers ?? WorkersFor(level, Environment.ProcessorCount);
        _output = new DetachableOutput(output);
        _zstd = new CompressionStream(_output, level, OutputBufferSize, leaveOpen: true);
        try
        {
            _zstd.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
            _zstd.SetParameter(ZSTD_cParameter.ZSTD_c_nbWorkers, Workers);
        }
        catch
        {
            _output.Detach();
            _zstd.Dispose();
            throw;
        }
    }

    public static int MinLevel => Compressor.MinCompressionLevel;

    /// <summary>
    /// 19, zstd's highest level without --ultra: 20..22 need up to 800 MB of memory even single-threaded, far
    /// beyond the backup's budget (256 MB for the whole process).
    /// </summary>
    public const int MaxLevel = 19;

    /// <summary>Memory the zstd compressor may use: its share of the backup's 256 MB.</summary>
    public const long MemoryBudget = 64L << 20;

    /// <summary>zstd worker threads this stream uses (0: zstd's single-threaded mode).</summary>
    public int Workers { get; }

    /// <summary>
    /// As many workers as cores (at most 8) whose memory fits in <see cref="MemoryBudget"/>; 0 when even one does
    /// not. Each worker holds a compression context and job buffers; jobs are 4 × the window (2 MiB at level 1,
    /// 8 MiB at 3, 32 MiB at 19). The estimate, (workers + 1) × (context + 2 × job), matches or exceeds what we
    /// measured (level 1: ~5 MiB a worker; 3: ~20; 9: ~50; 19 single-threaded: ~90 MiB).
    /// </summary>
    public static int WorkersFor(int level, int cores)
    {
        var parameters = Methods.ZSTD_getCParams(level, ulong.MaxValue, 0);
        long context = (long)Methods.ZSTD_estimateCStreamSize(level);
        long job = 1L << (int)Math.Max(20, parameters.windowLog + 2);
        int workers = Math.Min(cores, 8);
        while (workers > 0 && (workers + 1) * (context + 2 * job) > MemoryBudget)
            workers--;
        return workers;
    }

    protected override void WriteCore(ReadOnlySpan<byte> buffer) => _zstd.Write(buffer);

    protected override ValueTask WriteCoreAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
        => _zstd.WriteAsync(buffer, cancellationToken);

    protected override void FlushCore()
    {
        _zstd.Flush();
        Output.Flush();
    }

    protected override async Task FlushCoreAsync(CancellationToken cancellationToken)
    {
        await _zstd.FlushAsync(cancellationToken).ConfigureAwait(false);
        await Output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void FinishCore()
    {
        _zstd.Dispose(); // ends the frame (checksum), frees the context, joins the workers
        Output.Flush();
    }

    protected override async ValueTask FinishCoreAsync()
    {
        await _zstd.DisposeAsync().ConfigureAwait(false);
        await Output.FlushAsync().ConfigureAwait(false);
    }

    protected override void ReleaseCore()
    {
        _output.Detach();
        try
        {
            _zstd.Dispose(); // after a failure: its flush hits the detached output; the context is freed regardless
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
