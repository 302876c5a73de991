using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Streams;

/// <summary>The hand-off queue of the worker threads: FIFO, ends when completed and drained, and a cancel wakes a waiting taker.</summary>
public sealed class WaitingQueueTests
{
    [Fact]
    public async Task Items_come_out_in_order_across_threads_and_the_taker_ends_once_the_queue_is_complete_and_empty()
    {
        var queue = new WaitingQueue<int>();
        var taken = Task.Run(() => queue.TakeAll().ToList());
        for (int i = 0; i < 10_000; i++) queue.Add(i);
        queue.CompleteAdding();
        Assert.Equal(Enumerable.Range(0, 10_000), await taken.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.False(queue.TryTake(out _, CancellationToken.None));
        Assert.Throws<InvalidOperationException>(() => queue.Add(1));
    }

    [Fact]
    public async Task A_cancel_wakes_a_taker_waiting_on_an_empty_queue()
    {
        var queue = new WaitingQueue<int>();
        using var cancel = new CancellationTokenSource();
        var waiting = Task.Run(() => queue.TryTake(out _, cancel.Token));
        while (waiting.Status != TaskStatus.Running) await Task.Delay(10);
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromMinutes(1)));
    }
}
