using ZstdSharp.Unsafe;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// zstd with worker threads (ZSTD_c_nbWorkers): one frame with a content checksum, which `zstd -d` reads and
/// verifies. <see cref="Create(Stream, int, bool, int?)"/> compresses with the system's libzstd when it is installed
/// (<see cref="NativeZstdCompressor"/>), with the ZstdSharp port otherwise (<see cref="ManagedZstdCompressor"/>);
/// both write the same format, at the same level and with the same workers.
/// </summary>
internal abstract class ZstdCompressor : CompressorStream
{
    /// <summary>
    /// Level 1: on SQL dumps, with 2 workers, about twice the throughput of level 3 at the same ratio (on the audit
    /// workload even a better one); see the streams benchmark.
    /// </summary>
    public const int DefaultLevel = 1;

    /// <summary>
    /// 19, zstd's highest level without --ultra: 20..22 need up to 800 MB of memory even single-threaded, far
    /// beyond the backup's budget (256 MB for the whole process).
    /// </summary>
    public const int MaxLevel = 19;

    /// <summary>Memory the zstd compressor may use: its share of the backup's 256 MB.</summary>
    public const long MemoryBudget = 64L << 20;

    protected ZstdCompressor(Stream output, bool leaveOpen, int level, int? workers)
        : base(output, leaveOpen)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, MinLevel);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, MaxLevel);
        if (workers < 0)
            throw new ArgumentOutOfRangeException(nameof(workers));
        Level = level;
        Workers = workers ?? WorkersFor(level, Environment.ProcessorCount);
    }

    public static int MinLevel => ZstdSharp.Compressor.MinCompressionLevel;

    /// <summary>With libzstd where it is installed, ZstdSharp otherwise.</summary>
    /// <param name="workers">Null: <see cref="WorkersFor"/> this level on this machine. 0: zstd's single-threaded mode.</param>
    public static ZstdCompressor Create(Stream output, int level, bool leaveOpen, int? workers = null)
        => Create(output, level, leaveOpen, workers, NativeZstd.Default);

    /// <param name="native">The libzstd to use; null: ZstdSharp.</param>
    public static ZstdCompressor Create(Stream output, int level, bool leaveOpen, int? workers, NativeZstd? native)
        => native is null
            ? new ManagedZstdCompressor(output, level, leaveOpen, workers)
            : new NativeZstdCompressor(native, output, level, leaveOpen, workers);

    public int Level { get; }

    /// <summary>zstd worker threads this stream uses (0: zstd's single-threaded mode).</summary>
    public int Workers { get; protected set; }

    /// <summary>"libzstd 1.5.4" or "ZstdSharp": what compresses, for benchmarks and diagnostics.</summary>
    public abstract string Engine { get; }

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
}
