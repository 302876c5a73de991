using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Storage;

/// <summary>
/// The write side shared by the object stores: bytes fill a part buffer; a full part is uploaded in the background
/// while the next fills, with at most <c>maxParallel</c> parts in flight, so memory stays at about
/// (maxParallel + 1) × part size whatever the object's size. An object that fits one part is sent with one PUT at
/// commit. Nothing becomes visible before <see cref="CommitAsync"/>; a dispose without a commit (cancellation,
/// failure) waits for the parts in flight and aborts the upload.
/// </summary>
internal abstract class PartedWriteStream : ObjectWriteStream
{
    private const int DoubleEveryParts = 1000;
    private const int MaxPartSize = 512 << 20;

    private readonly int _basePartSize;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _abort = new();
    private readonly List<Task> _inFlight = [];
    private readonly Stack<byte[]> _free = new();
    private byte[] _current;
    private int _filled;
    private int _partCount;
    private bool _started;
    private bool _committed;
    private bool _disposed;
    private Exception? _failure;

    protected PartedWriteStream(int partSize, int maxParallel)
    {
        _basePartSize = partSize;
        _slots = new SemaphoreSlim(maxParallel, maxParallel);
        _current = new byte[Math.Min(partSize, 64 << 10)]; // small objects (manifests) stay small; grows to a part
    }

    /// <summary>The store and key, for messages.</summary>
    protected abstract string Describe { get; }

    protected abstract Task StartAsync(CancellationToken cancellationToken);
    protected abstract Task UploadPartAsync(int partNumber, ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
    protected abstract Task CompleteAsync(int partCount, CancellationToken cancellationToken);
    protected abstract Task PutSingleAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);
    /// <summary>Drops what a started upload stored (best effort, never throws).</summary>
    protected abstract Task AbortAsync();

    private int PartSizeFor(int partNumber) => (int)Math.Min(MaxPartSize, (long)_basePartSize << Math.Min(10, (partNumber - 1) / DoubleEveryParts));

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override void Write(ReadOnlySpan<byte> buffer) => WriteAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override void Flush() { }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) throw new InvalidOperationException("The object is already committed.");
        ThrowIfFailed();
        while (buffer.Length > 0)
        {
            int n = Math.Min(buffer.Length, _current.Length - _filled);
            buffer[..n].CopyTo(_current.AsMemory(_filled));
            _filled += n;
            buffer = buffer[n..];
            if (_filled < _current.Length) continue;
            int partSize = PartSizeFor(_partCount + 1);
            if (_current.Length < partSize) Array.Resize(ref _current, Math.Min(partSize, _current.Length * 4));
            else await SendCurrentAsync(ct).ConfigureAwait(false);
        }
    }

    private void ThrowIfFailed()
    {
        if (_failure is not null) throw Wrap(_failure);
    }

    private Exception Wrap(Exception e) => e is PgBackupException or OperationCanceledException ? e
        : new PgBackupException(FailureKind.OperationFailed, $"Uploading {Describe} failed: {e.Message}", Describe, e);

    private async Task SendCurrentAsync(CancellationToken ct)
    {
        if (!_started)
        {
            await StartAsync(ct).ConfigureAwait(false);
            _started = true;
        }
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        ThrowIfFailedReleasing();
        var buffer = _current;
        int length = _filled;
        int partNumber = ++_partCount;
        lock (_free) _current = _free.Count > 0 && _free.Peek().Length == PartSizeFor(partNumber + 1) ? _free.Pop() : new byte[PartSizeFor(partNumber + 1)];
        _filled = 0;
        var token = _abort.Token;
        _inFlight.Add(Task.Run(async () =>
        {
            try
            {
                await UploadPartAsync(partNumber, buffer.AsMemory(0, length), token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
                _abort.Cancel();
                throw;
            }
            finally
            {
                lock (_free) _free.Push(buffer);
                _slots.Release();
            }
        }, CancellationToken.None));
        _inFlight.RemoveAll(t => t.IsCompletedSuccessfully);
    }

    private void ThrowIfFailedReleasing()
    {
        if (_failure is null) return;
        _slots.Release();
        ThrowIfFailed();
    }

    public override async Task CommitAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfFailed();
        if (!_started)
        {
            await PutSingleAsync(_current.AsMemory(0, _filled), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            if (_filled > 0) await SendCurrentAsync(cancellationToken).ConfigureAwait(false);
            try { await Task.WhenAll(_inFlight).ConfigureAwait(false); }
            catch (Exception) { ThrowIfFailed(); throw; }
            await CompleteAsync(_partCount, cancellationToken).ConfigureAwait(false);
        }
        _committed = true;
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_committed)
        {
            _abort.Cancel();
            try { await Task.WhenAll(_inFlight).ConfigureAwait(false); } catch (Exception) { }
            if (_started) await AbortAsync().ConfigureAwait(false);
        }
        _inFlight.Clear();
        _free.Clear();
        _current = [];
        _abort.Dispose();
        GC.SuppressFinalize(this);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed) DisposeAsync().AsTask().GetAwaiter().GetResult();
        base.Dispose(disposing);
    }
}
