using System.Collections.Concurrent;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// The worker threads of one parallel gzip stream. Dedicated threads rather than the thread pool: compression is
/// long CPU-bound work, the pool may be busy or starved by the caller's own blocking, and a pigz-like stream should
/// use every core it was given whatever else runs. Threads start one by one as blocks arrive (a small stream uses
/// one), are background threads, and end on <see cref="Dispose"/>.
/// </summary>
internal sealed class GzipWorkers : IDisposable
{
    private readonly BlockingCollection<GzipBlock> _queue = new(); // bounded by the compressor's blocks in flight
    private readonly List<Thread> _threads = [];
    private readonly int _maxThreads;
    private readonly int _level;
    private readonly Action<GzipBlock>? _onWorker;
    private volatile bool _abandoned;

    public GzipWorkers(int maxThreads, int level, Action<GzipBlock>? onWorker)
    {
        _maxThreads = maxThreads;
        _level = level;
        _onWorker = onWorker;
    }

    public void Post(GzipBlock block)
    {
        block.Queue();
        _queue.Add(block);
        if (_threads.Count < _maxThreads)
        {
            var thread = new Thread(Work)
            {
                IsBackground = true,
                Name = $"pgbt gzip {_threads.Count + 1}",
            };
            thread.Start();
            _threads.Add(thread);
        }
    }

    /// <summary>No more blocks: queued ones are completed as cancelled without compressing. Does not wait.</summary>
    public void Abandon()
    {
        _abandoned = true;
        _queue.CompleteAdding();
    }

    /// <summary>Lets the threads finish the queue and waits for them to end.</summary>
    public void Dispose()
    {
        if (!_queue.IsAddingCompleted)
            _queue.CompleteAdding();
        foreach (var thread in _threads)
            thread.Join();
        _queue.Dispose();
    }

    private void Work()
    {
        foreach (var block in _queue.GetConsumingEnumerable())
        {
            if (_abandoned)
                block.Skip();
            else
                block.Compress(_level, _onWorker);
        }
    }
}
