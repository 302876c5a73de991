using System.Security.Cryptography;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Tests.Storage;

/// <summary>
/// What every store must do, run against each real store (the file system, S3 through s3rver, Azure Blob through
/// Azurite, over HTTP with the real SDKs). Each test works in a fresh, empty repository.
/// </summary>
public abstract class ObjectStoreContractTests
{
    protected const int PartSize = 5 << 20; // S3's smallest part

    /// <summary>A fresh, empty store; <paramref name="listPageSize"/> forces small list pages.</summary>
    protected abstract IObjectStore CreateStore(int? listPageSize = null);

    /// <summary>Multipart uploads begun and neither completed nor aborted (S3 only; others have none to leak).</summary>
    protected virtual Task<IReadOnlyList<string>> PendingUploadsAsync(IObjectStore store) => Task.FromResult<IReadOnlyList<string>>([]);

    protected static async Task PutAsync(IObjectStore store, string key, byte[] data, bool overwrite = true)
    {
        await using var w = await store.CreateAsync(key, overwrite, default);
        await w.WriteAsync(data);
        await w.CommitAsync(default);
    }

    protected static Task PutAsync(IObjectStore store, string key, string text, bool overwrite = true) =>
        PutAsync(store, key, System.Text.Encoding.UTF8.GetBytes(text), overwrite);

    protected static async Task<byte[]> GetAsync(IObjectStore store, string key)
    {
        await using var r = await store.OpenReadAsync(key, default);
        using var m = new MemoryStream();
        await r.CopyToAsync(m);
        return m.ToArray();
    }

    protected static async Task<List<string>> ListAsync(IObjectStore store, string prefix = "")
    {
        var keys = new List<string>();
        await foreach (var o in store.ListAsync(prefix, default)) keys.Add(o.Key);
        return keys;
    }

    [Fact]
    public async Task Put_get_info_list_and_delete_with_spaces_in_names()
    {
        var store = CreateStore();
        await PutAsync(store, "a/b c/one file.txt", "1");
        await PutAsync(store, "a/b c/two.txt", "22");
        await PutAsync(store, "z.txt", "3");
        Assert.Equal("1", System.Text.Encoding.UTF8.GetString(await GetAsync(store, "a/b c/one file.txt")));
        Assert.Equal(["a/b c/one file.txt", "a/b c/two.txt"], await ListAsync(store, "a/"));
        Assert.Equal(2, (await store.GetInfoAsync("a/b c/two.txt", default))!.Size);
        await store.DeleteAsync("a/b c/two.txt", default);
        Assert.Null(await store.GetInfoAsync("a/b c/two.txt", default));
        Assert.Equal(["a/b c/one file.txt", "z.txt"], await ListAsync(store));
        await store.DeleteAsync("never/was", default); // deleting a missing object is not an error
    }

    [Fact]
    public async Task Missing_objects_are_reported_as_such()
    {
        var store = CreateStore();
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync("nope/nothing", default));
        Assert.Null(await store.GetInfoAsync("nope/nothing", default));
        Assert.Empty(await ListAsync(store, "nope/"));
    }

    [Fact]
    public async Task Listing_pages_through_every_object_in_ordinal_order()
    {
        var store = CreateStore(listPageSize: 2);
        string[] keys = ["p/e", "p/a", "p/c", "p/b", "p/d", "pq/x", "q/y"];
        foreach (var k in keys) await PutAsync(store, k, k);
        Assert.Equal(["p/a", "p/b", "p/c", "p/d", "p/e"], await ListAsync(store, "p/"));
        Assert.Equal(["p/a", "p/b", "p/c", "p/d", "p/e", "pq/x"], await ListAsync(store, "p"));
        Assert.Equal(7, (await ListAsync(store)).Count);
    }

    [Fact]
    public async Task A_large_object_goes_up_in_parts_and_comes_back_identical()
    {
        var store = CreateStore();
        var data = RandomNumberGenerator.GetBytes(2 * PartSize + 12345);
        await using (var w = await store.CreateAsync("big/object bin", overwrite: false, default))
        {
            for (int i = 0; i < data.Length; i += 100_000) await w.WriteAsync(data.AsMemory(i, Math.Min(100_000, data.Length - i)));
            Assert.Empty(await ListAsync(store, "big/")); // not visible before the commit
            await w.CommitAsync(default);
        }
        Assert.Equal(data.Length, (await store.GetInfoAsync("big/object bin", default))!.Size);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await GetAsync(store, "big/object bin")));
        Assert.Empty(await PendingUploadsAsync(store));
    }

    [Theory]
    [InlineData(100)]
    [InlineData(3 * PartSize)]
    public async Task A_write_disposed_without_commit_leaves_nothing(int size)
    {
        var store = CreateStore();
        await using (var w = await store.CreateAsync("x/data", overwrite: true, default))
            await w.WriteAsync(RandomNumberGenerator.GetBytes(size));
        Assert.Empty(await ListAsync(store));
        Assert.Null(await store.GetInfoAsync("x/data", default));
        Assert.Empty(await PendingUploadsAsync(store));
    }

    [Fact]
    public async Task A_cancelled_write_leaves_nothing_listed_and_no_pending_upload()
    {
        var store = CreateStore();
        using var cts = new CancellationTokenSource();
        var chunk = RandomNumberGenerator.GetBytes(1 << 20);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await using var w = await store.CreateAsync("x/cancelled", overwrite: true, cts.Token);
            for (int i = 0; ; i++)
            {
                if (i == 3 * PartSize / chunk.Length) cts.Cancel(); // after some parts went up
                await w.WriteAsync(chunk, cts.Token);
                cts.Token.ThrowIfCancellationRequested();
            }
        });
        Assert.Empty(await ListAsync(store));
        Assert.Empty(await PendingUploadsAsync(store));
    }

    [Fact]
    public async Task No_overwrite_refuses_an_existing_key_and_keeps_the_first_overwrite_replaces()
    {
        var store = CreateStore();
        await PutAsync(store, "wal/1", "first", overwrite: false);
        await Assert.ThrowsAsync<ObjectAlreadyExistsException>(() => PutAsync(store, "wal/1", "second", overwrite: false));
        Assert.Equal("first", System.Text.Encoding.UTF8.GetString(await GetAsync(store, "wal/1")));
        await PutAsync(store, "wal/1", "third", overwrite: true);
        Assert.Equal("third", System.Text.Encoding.UTF8.GetString(await GetAsync(store, "wal/1")));
        Assert.Equal(["wal/1"], await ListAsync(store));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(2 * PartSize + 1)]
    public async Task Of_two_writers_of_one_new_key_the_first_commit_wins_and_the_second_is_refused(int size)
    {
        var store = CreateStore();
        var first = RandomNumberGenerator.GetBytes(size);
        var second = RandomNumberGenerator.GetBytes(size);
        await using var a = await store.CreateAsync("wal/race", overwrite: false, default);
        await using var b = await store.CreateAsync("wal/race", overwrite: false, default);
        await a.WriteAsync(first);
        await b.WriteAsync(second);
        await a.CommitAsync(default);
        await Assert.ThrowsAsync<ObjectAlreadyExistsException>(() => b.CommitAsync(default));
        Assert.Equal(first, await GetAsync(store, "wal/race"));
        await b.DisposeAsync();
        Assert.Empty(await PendingUploadsAsync(store));
    }
}

public sealed class FileSystemStoreContractTests : ObjectStoreContractTests, IDisposable
{
    private readonly List<TempDirectory> _dirs = [];

    protected override IObjectStore CreateStore(int? listPageSize = null)
    {
        var dir = new TempDirectory();
        _dirs.Add(dir);
        return new FileSystemStore(dir.Path);
    }

    public void Dispose()
    {
        foreach (var d in _dirs) d.Dispose();
    }
}

[Collection("s3")]
public sealed class S3StoreContractTests(S3rverFixture s3) : ObjectStoreContractTests
{
    protected override IObjectStore CreateStore(int? listPageSize = null) => s3.Store(s3.Options(listPageSize: listPageSize, partSize: PartSize));

    protected override Task<IReadOnlyList<string>> PendingUploadsAsync(IObjectStore store) =>
        Task.FromResult(S3WireRecorder.Instance.Pending(store.Location["s3://".Length..] + "/"));

    // s3rver ignores If-None-Match (it overwrites), so there the HEAD before the commit is what refuses; S3, MinIO,
    // R2 and Ceph refuse on their own. What the store must do is send the condition, single PUT and multipart alike.
    [Fact]
    public async Task No_overwrite_commits_are_sent_as_conditional_writes_and_overwrites_are_not()
    {
        var store = CreateStore();
        await PutAsync(store, "c/single", "x", overwrite: false);
        await PutAsync(store, "c/multipart", RandomNumberGenerator.GetBytes(PartSize + 1), overwrite: false);
        await PutAsync(store, "c/replaced", "x", overwrite: true);
        string root = store.Location["s3://".Length..] + "/";
        Assert.Equal("*", S3WireRecorder.Instance.CommitCondition(root + "c/single"));
        Assert.Equal("*", S3WireRecorder.Instance.CommitCondition(root + "c/multipart"));
        Assert.Equal("", S3WireRecorder.Instance.CommitCondition(root + "c/replaced"));
    }
}

[Collection("azure")]
public sealed class AzureBlobStoreContractTests(AzuriteFixture azure) : ObjectStoreContractTests
{
    protected override IObjectStore CreateStore(int? listPageSize = null) => azure.Store(azure.Options(listPageSize: listPageSize, partSize: PartSize));
}
