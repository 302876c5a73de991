using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Tests.Storage;

public class FileSystemStoreTests
{
    private static async Task PutAsync(IObjectStore store, string key, string text, bool overwrite = true)
    {
        await using var w = await store.CreateAsync(key, overwrite, default);
        await w.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
        await w.CommitAsync(default);
    }

    private static async Task<string> GetAsync(IObjectStore store, string key)
    {
        await using var r = await store.OpenReadAsync(key, default);
        return await new StreamReader(r).ReadToEndAsync();
    }

    [Fact]
    public async Task Put_get_list_delete_with_spaces_in_names()
    {
        using var tmp = new TempDirectory();
        var store = new FileSystemStore(tmp.Path);
        await PutAsync(store, "a/b c/one file.txt", "1");
        await PutAsync(store, "a/b c/two.txt", "22");
        await PutAsync(store, "z.txt", "3");
        Assert.Equal("1", await GetAsync(store, "a/b c/one file.txt"));
        var listed = new List<StoredObjectInfo>();
        await foreach (var o in store.ListAsync("a/", default)) listed.Add(o);
        Assert.Equal(["a/b c/one file.txt", "a/b c/two.txt"], listed.Select(o => o.Key));
        Assert.Equal(2, listed[1].Size);
        await store.DeleteAsync("a/b c/two.txt", default);
        Assert.Null(await store.GetInfoAsync("a/b c/two.txt", default));
    }

    [Fact]
    public async Task An_uncommitted_write_leaves_nothing_visible_or_on_disk()
    {
        using var tmp = new TempDirectory();
        var store = new FileSystemStore(tmp.Path);
        await using (var w = await store.CreateAsync("x/data", overwrite: true, default))
            await w.WriteAsync(new byte[1000]);
        var listed = new List<StoredObjectInfo>();
        await foreach (var o in store.ListAsync("", default)) listed.Add(o);
        Assert.Empty(listed);
        Assert.Empty(Directory.GetFiles(tmp.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Temp_files_of_a_write_in_progress_are_not_listed()
    {
        using var tmp = new TempDirectory();
        var store = new FileSystemStore(tmp.Path);
        await using var w = await store.CreateAsync("x/data", overwrite: true, default);
        await w.WriteAsync(new byte[10]);
        var listed = new List<StoredObjectInfo>();
        await foreach (var o in store.ListAsync("", default)) listed.Add(o);
        Assert.Empty(listed);
        Assert.Single(Directory.GetFiles(Path.Combine(tmp.Path, "x")));
    }

    [Fact]
    public async Task No_overwrite_commit_refuses_an_existing_key_and_keeps_the_first()
    {
        using var tmp = new TempDirectory();
        var store = new FileSystemStore(tmp.Path);
        await PutAsync(store, "wal/1", "first", overwrite: false);
        await Assert.ThrowsAsync<ObjectAlreadyExistsException>(() => PutAsync(store, "wal/1", "second", overwrite: false));
        Assert.Equal("first", await GetAsync(store, "wal/1"));
        Assert.Single(Directory.GetFiles(Path.Combine(tmp.Path, "wal")));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("a\\b")]
    public async Task Keys_that_could_leave_the_store_are_refused(string key)
    {
        using var tmp = new TempDirectory();
        var store = new FileSystemStore(tmp.Path);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => store.CreateAsync(key, true, default));
        Assert.Equal(FailureKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public void A_root_that_is_a_file_is_refused()
    {
        using var tmp = new TempDirectory();
        var file = Path.Combine(tmp.Path, "file");
        File.WriteAllText(file, "x");
        var e = Assert.Throws<PgBackupException>(() => new FileSystemStore(file));
        Assert.Contains("is a file", e.Message);
    }

    [Fact]
    public async Task Reading_a_missing_key_is_a_not_found_error()
    {
        using var tmp = new TempDirectory();
        var store = new FileSystemStore(tmp.Path);
        await Assert.ThrowsAsync<ObjectNotFoundException>(() => store.OpenReadAsync("nope", default));
    }
}
