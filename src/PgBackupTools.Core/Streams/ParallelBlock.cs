namespace PgBackupTools.Core.Streams;

/// <summary>
/// A unit of work for <see cref="BlockWorkers{TBlock}"/>: queued by the stream that owns it, processed on a worker
/// thread, awaited by the owner in order. Reused: an owner keeps a fixed set of blocks, which bounds its memory.
/// </summary>
internal abstract class ParallelBlock
{
    private TaskCompletionSource? _done;

    /// <summary>Completes when a worker processed the block, or faults with the worker's exception.</summary>
    public Task Done => _done?.Task ?? throw new InvalidOperationException("The block was not queued.");

    /// <summary>The managed thread id of the worker that processed it (for tests and diagnostics).</summary>
    public int ProcessedBy { get; private set; }

    /// <summary>Marks the block as queued for a worker.</summary>
    public void Queue() => _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Runs on a worker thread: processes, then completes <see cref="Done"/> either way.</summary>
    public void Run(Action? beforeProcessing)
    {
        var done = _done!;
        try
        {
            ProcessedBy = Environment.CurrentManagedThreadId;
            beforeProcessing?.Invoke();
            Process();
            done.SetResult();
        }
        catch (Exception e)
        {
            done.SetException(e);
        }
    }

    /// <summary>Runs on a worker thread when the owner was abandoned: completes without processing.</summary>
    public void Skip() => _done!.TrySetCanceled();

    /// <summary>The work itself, on a worker thread.</summary>
    protected abstract void Process();

    /// <summary>Ready to be filled and queued again.</summary>
    public virtual void Reset() => _done = null;
}
