namespace PgBackupTools.Core.Streams;

/// <summary>
/// A FIFO hand-off between threads whose waiters sleep at once instead of spinning first, as BlockingCollection's do:
/// on two cores a spinning consumer takes the CPU from the very producer it waits for.
/// </summary>
internal sealed class WaitingQueue<T>
{
    private readonly Queue<T> _items = new();
    private bool _completed;

    public int Count
    {
        get { lock (_items) return _items.Count; }
    }

    public void Add(T item)
    {
        lock (_items)
        {
            if (_completed) throw new InvalidOperationException("The queue is complete: nothing more can be added.");
            _items.Enqueue(item);
            if (_items.Count == 1) Monitor.PulseAll(_items);
        }
    }

    /// <summary>No more items: takers get the ones left, then false.</summary>
    public void CompleteAdding()
    {
        lock (_items)
        {
            _completed = true;
            Monitor.PulseAll(_items);
        }
    }

    /// <summary>Waits for an item; false once the queue is complete and empty. Throws <see cref="OperationCanceledException"/> when cancelled.</summary>
    public bool TryTake(out T item, CancellationToken cancellationToken)
    {
        using var wake = cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(static q => { lock (q!) Monitor.PulseAll(q); }, _items) : default;
        lock (_items)
        {
            while (_items.Count == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (_completed)
                {
                    item = default!;
                    return false;
                }
                Monitor.Wait(_items);
            }
            cancellationToken.ThrowIfCancellationRequested();
            item = _items.Dequeue();
            return true;
        }
    }

    /// <summary>The items as they come, until the queue is complete and empty.</summary>
    public IEnumerable<T> TakeAll(CancellationToken cancellationToken = default)
    {
        while (TryTake(out var item, cancellationToken)) yield return item;
    }
}
