namespace PgBackupTools.Core.Streams;

/// <summary>
/// The ordered-parallel shape every pigz-like compressor here shares: input is cut into fixed-size blocks; each block
/// is compressed on a worker (<see cref="BlockWorkers{TBlock}"/>); finished blocks are written to the output in
/// order, by the caller's thread only. A format says how a block compresses, what comes before the first block and
/// after the last (<see cref="Header"/>, <see cref="Trailer"/>).
///
/// Memory is bounded: at most two blocks per worker, within <see cref="MemoryBudget"/>, are compressing; Write waits (backpressure) until the oldest
/// is done and written. A worker's failure surfaces on the next Write, Flush or on Dispose.
/// </summary>
internal abstract class ParallelBlockCompressor<TBlock> : CompressorStream where TBlock : CompressionBlock
{
    private readonly int _maxInFlight;
    private readonly int _workerCount;
    private readonly string _workerName;
    private BlockWorkers<TBlock>? _workers;
    private readonly Queue<TBlock> _inFlight = new();
    private readonly Stack<TBlock> _spare = new();
    private readonly HashSet<int> _workerThreads = [];
    private TBlock? _current;
    private int _blocksAllocated;
    private bool _headerWritten;

    /// <summary>Memory the blocks may use (each holds its input and its compressed output): the compressor's share of a backup's 256 MB.</summary>
    public const long MemoryBudget = 64L << 20;

    /// <summary>Workers used when none is given: all cores, at most 16.</summary>
    public static int DefaultWorkers => Math.Min(Environment.ProcessorCount, 16);

    /// <param name="workers">0: <see cref="DefaultWorkers"/>.</param>
    protected ParallelBlockCompressor(Stream output, bool leaveOpen, int workers, int blockSize, string workerName)
        : base(output, leaveOpen)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(workers);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        _workerCount = workers == 0 ? DefaultWorkers : workers;
        // Two blocks per worker keep every worker busy while the caller waits for the oldest; the budget bounds
        // memory on machines with many cores.
        _maxInFlight = (int)Math.Clamp(2L * _workerCount, 2, Math.Max(2, MemoryBudget / (2L * blockSize) - 1));
        _workerName = workerName;
    }

    /// <summary>Ids of the threads that compressed at least one written block (for tests and diagnostics).</summary>
    internal IReadOnlyCollection<int> WorkerThreads => _workerThreads;

    /// <summary>Test seam: runs on the worker before each block is compressed.</summary>
    internal Action<TBlock>? OnWorker { get; set; }

    /// <summary>Blocks ever allocated: memory used is about this many times the block's input and output.</summary>
    internal int BlocksAllocated => _blocksAllocated;

    /// <summary>A new, empty block (the compressor reuses it).</summary>
    protected abstract TBlock CreateBlock();

    /// <summary>Written once, before the first block's output (or before the trailer when there is none).</summary>
    protected virtual ReadOnlyMemory<byte> Header => default;

    /// <summary>Written once after the last block; called on the caller's thread after every block was written.</summary>
    protected abstract ReadOnlyMemory<byte> Trailer();

    /// <summary>Runs on the caller's thread after a block's output was written, before the block is reused.</summary>
    protected virtual void OnBlockWritten(TBlock block)
    {
    }

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
        WriteHeaderOnce();
        Output.Write(Trailer().Span);
        Output.Flush();
    }

    protected override async ValueTask FinishCoreAsync()
    {
        Submit();
        while (_inFlight.Count > 0)
            await WriteOldestAsync(CancellationToken.None).ConfigureAwait(false);
        await WriteHeaderOnceAsync().ConfigureAwait(false);
        await Output.WriteAsync(Trailer()).ConfigureAwait(false);
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
        ReleaseBlocks();
    }

    /// <summary>After the workers ended: frees what the format's blocks share (contexts).</summary>
    protected virtual void ReleaseBlocks()
    {
    }

    // Only if the stream was never disposed: let the workers end.
    ~ParallelBlockCompressor() => _workers?.Abandon();

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

    private TBlock TakeSpareBlock()
    {
        if (_spare.TryPop(out var block))
            return block;
        _blocksAllocated++;
        return CreateBlock();
    }

    private void Submit()
    {
        if (_current is not { Length: > 0 } block)
            return;
        _current = null;
        _workers ??= new BlockWorkers<TBlock>(_workerCount, _workerName, OnWorker);
        _workers.Post(block);
        _inFlight.Enqueue(block);
    }

    private bool HeadIsDone() => _inFlight.TryPeek(out var head) && head.Done.IsCompleted;

    private void WriteOldest()
    {
        var block = _inFlight.Peek();
        block.Done.GetAwaiter().GetResult(); // rethrows the worker's exception as is
        _inFlight.Dequeue();
        WriteHeaderOnce();
        Output.Write(block.Output.Span);
        Recycle(block);
    }

    private async ValueTask WriteOldestAsync(CancellationToken cancellationToken)
    {
        var block = _inFlight.Peek();
        await block.Done.WaitAsync(cancellationToken).ConfigureAwait(false);
        _inFlight.Dequeue();
        await WriteHeaderOnceAsync().ConfigureAwait(false);
        await Output.WriteAsync(block.Output, cancellationToken).ConfigureAwait(false);
        Recycle(block);
    }

    private void Recycle(TBlock block)
    {
        OnBlockWritten(block);
        _workerThreads.Add(block.ProcessedBy);
        block.Reset();
        _spare.Push(block);
    }

    private void WriteHeaderOnce()
    {
        if (_headerWritten)
            return;
        _headerWritten = true;
        Output.Write(Header.Span);
    }

    private async ValueTask WriteHeaderOnceAsync()
    {
        if (_headerWritten)
            return;
        _headerWritten = true;
        await Output.WriteAsync(Header).ConfigureAwait(false);
    }
}
