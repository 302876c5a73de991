namespace PgBackupTools.Core.Streams;

/// <summary>
/// The worker threads of one parallel stream (gzip blocks, zstd frames, both ways). Dedicated threads rather than
/// the thread pool: (de)compression is long CPU-bound work, the pool may be busy or starved by the caller's own
/// blocking, and a pigz-like stream should use every core it was given whatever else runs. Threads start one by one
/// as blocks arrive (a small stream uses one), are background threads, and end on <see cref="Dispose"/>.
/// </summary>
internal sealed class BlockWorkers<TBlock> : IDisposable where TBlock : ParallelBlock
{
    private readonly WaitingQueue<TBlock> _queue = new(); // bounded by the owner's blocks in flight
    private readonly List<Thread> _threads = [];
    private readonly int _maxThreads;
    private readonly string _name;
    private readonly Action<TBlock>? _onWorker;
    private volatile bool _abandoned;

    /// <param name="name">Thread names: "pgbt {name} 1", ...</param>
    /// <param name="onWorker">Test seam: runs on the worker before each block is processed.</param>
    public BlockWorkers(int maxThreads, string name, Action<TBlock>? onWorker = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxThreads, 1);
        _maxThreads = maxThreads;
        _name = name;
        _onWorker = onWorker;
    }

    public void Post(TBlock block)
    {
        block.Queue();
        _queue.Add(block);
        if (_threads.Count < _maxThreads)
        {
            var thread = new Thread(Work)
            {
                IsBackground = true,
                Name = $"pgbt {_name} {_threads.Count + 1}",
            };
            thread.Start();
            _threads.Add(thread);
        }
    }

    /// <summary>No more blocks: queued ones are completed as cancelled without processing. Does not wait.</summary>
    public void Abandon()
    {
        _abandoned = true;
        _queue.CompleteAdding();
    }

    /// <summary>Lets the threads finish the queue and waits for them to end.</summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        foreach (var thread in _threads)
            thread.Join();
    }

    private void Work()
    {
        foreach (var block in _queue.TakeAll())
        {
            if (_abandoned)
                block.Skip();
            else
                block.Run(_onWorker is null ? null : () => _onWorker(block));
        }
    }
}
