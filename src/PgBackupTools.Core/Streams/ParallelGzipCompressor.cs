using System.Buffers.Binary;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// gzip on every core, pigz-like. Input is cut into fixed-size blocks; each block is deflated on a worker
/// (<see cref="GzipBlock"/>); finished blocks are written to the output in order, by the caller's thread only.
///
/// Output format: ONE gzip member. Each block's deflate data ends with a sync flush, so blocks join into a single
/// deflate stream; one empty final block and one trailer (the blocks' CRC-32s combined, the total length) close it.
/// We prefer this to a gzip member per block (also valid gzip) because every reader handles a single member, and
/// `gzip -l` and other tools that read only the first member or the last trailer see the whole data. The cost against
/// a single-threaded deflate is that a block cannot refer to the previous block's last 32 KiB: 0.13% larger at
/// 1 MiB blocks on the audit dump (smaller blocks cost more: 256 KiB, 0.5%; larger ones buy almost nothing).
///
/// Memory is bounded: at most <c>maxInFlight</c> blocks (2 per worker, within <see cref="MemoryBudget"/>) are
/// compressing; Write waits (backpressure) until the oldest is done and written. About 10 MiB on 2 cores.
/// A worker's failure surfaces on the next Write, Flush or on Dispose.
/// </summary>
internal sealed class ParallelGzipCompressor : CompressorStream
{
    public const int DefaultLevel = 6;
    public const int DefaultBlockSize = 1 << 20;

    // Final empty fixed-Huffman block (BFINAL=1, BTYPE=01, end-of-block): what zlib writes for Z_FINISH with no input.
    private static ReadOnlySpan<byte> FinalBlock => [0x03, 0x00];

    private readonly int _level;
    private readonly int _blockSize;
    private readonly int _maxInFlight;
    private readonly int _workerCount;
    private GzipWorkers? _workers;
    private readonly Queue<GzipBlock> _inFlight = new();
    private readonly Stack<GzipBlock> _spare = new();
    private readonly HashSet<int> _workerThreads = [];
    private GzipBlock? _current;
    private int _blocksAllocated;
    private bool _headerWritten;
    private uint _crc;
    private long _length;

    public ParallelGzipCompressor(Stream output, int level, bool leaveOpen, int blockSize = DefaultBlockSize, int workers = 0)
        : base(output, leaveOpen)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(level, GzipLevel.Min);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, GzipLevel.Max);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        _level = level;
        _blockSize = blockSize;
        if (workers == 0)
            workers = DefaultWorkers;
        _workerCount = workers;
        // Two blocks per worker keep every worker busy while the caller waits for the oldest; the budget bounds
        // memory (each block holds its input and its compressed output) on machines with many cores.
        _maxInFlight = (int)Math.Clamp(2L * workers, 2, Math.Max(2, MemoryBudget / (2L * blockSize) - 1));
    }

    /// <summary>Memory the blocks may use: the compressor's share of the backup's 256 MB (about 10 MiB on 2 cores).</summary>
    public const long MemoryBudget = 64L << 20;

    /// <summary>Workers used when none is given: all cores, at most 16.</summary>
    public static int DefaultWorkers => Math.Min(Environment.ProcessorCount, 16);

    /// <summary>Ids of the threads that compressed at least one written block (for tests and diagnostics).</summary>
    internal IReadOnlyCollection<int> WorkerThreads => _workerThreads;

    /// <summary>Test seam: runs on the worker before each block is compressed.</summary>
    internal Action<GzipBlock>? OnWorker { get; set; }

    /// <summary>Blocks ever allocated: memory used is about this many times twice the block size.</summary>
    internal int BlocksAllocated => _blocksAllocated;

    protected override void WriteCore(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            if (Fill(ref buffer))
            {
                Submit();
                while (_inFlight.Count >= _maxInFlight || HeadIsDone())
                    WriteOldest();
            }
        }
    }

    protected override async ValueTask WriteCoreAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        while (!buffer.IsEmpty)
        {
            var span = buffer.Span;
            bool full = Fill(ref span);
            buffer = buffer[(buffer.Length - span.Length)..];
            if (full)
            {
                Submit();
                while (_inFlight.Count >= _maxInFlight || HeadIsDone())
                    await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    protected override void FlushCore()
    {
        Submit();
        while (_inFlight.Count > 0)
            WriteOldest();
        Output.Flush();
    }

    protected override async Task FlushCoreAsync(CancellationToken cancellationToken)
    {
        Submit();
        while (_inFlight.Count > 0)
            await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
        await Output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void FinishCore()
    {
        Submit();
        while (_inFlight.Count > 0)
            WriteOldest();
        if (!_headerWritten)
            WriteHeader();
        Span<byte> end = stackalloc byte[10];
        WriteTrailer(end);
        Output.Write(end);
        Output.Flush();
    }

    protected override async ValueTask FinishCoreAsync()
    {
        Submit();
        while (_inFlight.Count > 0)
            await WriteOldestAsync(CancellationToken.None).ConfigureAwait(false);
        if (!_headerWritten)
            await WriteHeaderAsync().ConfigureAwait(false);
        var end = new byte[10];
        WriteTrailer(end);
        await Output.WriteAsync(end).ConfigureAwait(false);
        await Output.FlushAsync().ConfigureAwait(false);
    }

    // After a failure blocks may still be queued or compressing: the workers skip what is queued, and we wait for
    // them to end, so no thread outlives the stream.
    protected override void ReleaseCore()
    {
        _workers?.Abandon();
        _workers?.Dispose();
        _workers = null;
        _inFlight.Clear();
        _spare.Clear();
        _current = null;
    }

    // Only if the stream was never disposed: let the workers end.
    ~ParallelGzipCompressor() => _workers?.Abandon();

    /// <summary>Copies as much of <paramref name="buffer"/> as fits into the current block; true if the block is full.</summary>
    private bool Fill(ref ReadOnlySpan<byte> buffer)
    {
        var block = _current ??= TakeSpareBlock();
        int n = Math.Min(block.Free, buffer.Length);
        buffer[..n].CopyTo(block.Input.AsSpan(block.Length));
        block.Length += n;
        buffer = buffer[n..];
        return block.Free == 0;
    }

    private GzipBlock TakeSpareBlock()
    {
        if (_spare.TryPop(out var block))
            return block;
        _blocksAllocated++;
        return new GzipBlock(_blockSize);
    }

    private void Submit()
    {
        if (_current is not { Length: > 0 } block)
            return;
        _current = null;
        _workers ??= new GzipWorkers(_workerCount, _level, OnWorker);
        _workers.Post(block);
        _inFlight.Enqueue(block);
    }

    private bool HeadIsDone() => _inFlight.TryPeek(out var head) && head.Done.IsCompleted;

    private void WriteOldest()
    {
        var block = _inFlight.Peek();
        block.Done.GetAwaiter().GetResult(); // rethrows the worker's exception as is
        _inFlight.Dequeue();
        if (!_headerWritten)
            WriteHeader();
        Output.Write(block.Deflate.Span);
        Account(block);
    }

    private async ValueTask WriteOldestAsync(CancellationToken cancellationToken)
    {
        var block = _inFlight.Peek();
        await block.Done.WaitAsync(cancellationToken).ConfigureAwait(false);
        _inFlight.Dequeue();
        if (!_headerWritten)
            await WriteHeaderAsync().ConfigureAwait(false);
        await Output.WriteAsync(block.Deflate, cancellationToken).ConfigureAwait(false);
        Account(block);
    }

    private void Account(GzipBlock block)
    {
        _crc = Crc32Combine.Combine(_crc, block.Crc32, block.Length);
        _length += block.Length;
        _workerThreads.Add(block.CompressedBy);
        block.Reset();
        _spare.Push(block);
    }

    // RFC 1952 header: deflate, no name, no mtime (reproducible output), OS unknown.
    private static ReadOnlySpan<byte> Header => [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF];

    private void WriteHeader()
    {
        Output.Write(Header);
        _headerWritten = true;
    }

    private async ValueTask WriteHeaderAsync()
    {
        await Output.WriteAsync(Header.ToArray()).ConfigureAwait(false);
        _headerWritten = true;
    }

    private void WriteTrailer(Span<byte> end)
    {
        FinalBlock.CopyTo(end);
        BinaryPrimitives.WriteUInt32LittleEndian(end[2..], _crc);
        BinaryPrimitives.WriteUInt32LittleEndian(end[6..], unchecked((uint)_length)); // ISIZE is the length mod 2^32
    }
}
