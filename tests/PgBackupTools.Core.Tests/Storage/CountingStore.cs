using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Tests.Storage;

/// <summary>
/// A real store with every call recorded ("info key", "list prefix", "read key", "create key", "delete key"), for
/// tests of how many round trips an operation costs on an object store, where each call is one.
/// </summary>
public sealed class CountingStore(IObjectStore inner) : IObjectStore, IDisposable
{
    private readonly ConcurrentQueue<string> _calls = new();

    /// <summary>The calls since the last <see cref="Reset"/>, in order.</summary>
    public IReadOnlyList<string> Calls => [.. _calls];

    public int Count(string kind) => _calls.Count(c => c.StartsWith(kind + " ", StringComparison.Ordinal));

    public void Reset() => _calls.Clear();

    public string Location => inner.Location;

    public Task<ObjectWriteStream> CreateAsync(string key, bool overwrite, CancellationToken ct)
    {
        _calls.Enqueue("create " + key);
        return inner.CreateAsync(key, overwrite, ct);
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken ct)
    {
        _calls.Enqueue("read " + key);
        return inner.OpenReadAsync(key, ct);
    }

    public Task<StoredObjectInfo?> GetInfoAsync(string key, CancellationToken ct)
    {
        _calls.Enqueue("info " + key);
        return inner.GetInfoAsync(key, ct);
    }

    public async IAsyncEnumerable<StoredObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        _calls.Enqueue("list " + prefix);
        await foreach (var obj in inner.ListAsync(prefix, ct).ConfigureAwait(false)) yield return obj;
    }

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        _calls.Enqueue("delete " + key);
        return inner.DeleteAsync(key, ct);
    }

    public string? TryGetLocalPath(string key) => inner.TryGetLocalPath(key);

    public void Dispose() => (inner as IDisposable)?.Dispose();
}
