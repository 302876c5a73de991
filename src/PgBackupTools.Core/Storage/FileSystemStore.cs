using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Storage;

/// <summary>
/// The embedded default store: a directory. A write goes to a hidden temp file beside its target, is fsynced,
/// renamed into place, and the directory is fsynced, so a crash at any point leaves the old state or the new one.
/// </summary>
public sealed class FileSystemStore : IObjectStore
{
    internal const string TempMarker = ".pgbt-tmp-";
    private readonly string _root;

    public string Location => _root;

    public FileSystemStore(string root)
    {
        _root = Path.GetFullPath(root);
        if (File.Exists(_root))
            throw new PgBackupException(FailureKind.InvalidArgument, $"The repository path '{_root}' is a file, not a directory. Give a directory (it is created if missing).", _root);
    }

    /// <summary>Creates the root directory if needed.</summary>
    public void EnsureRoot()
    {
        try { Directory.CreateDirectory(_root); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgBackupException(FailureKind.PermissionDenied, $"Cannot create the repository directory '{_root}': {e.Message}", _root, e);
        }
    }

    public bool RootExists => Directory.Exists(_root);

    private string PathOf(string key)
    {
        StorageKey.Validate(key);
        var full = Path.GetFullPath(Path.Combine(_root, key));
        if (!full.StartsWith(_root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new PgBackupException(FailureKind.InvalidArgument, $"'{key}' points outside the repository.", key);
        return full;
    }

    public string? TryGetLocalPath(string key) => PathOf(key);

    public Task<ObjectWriteStream> CreateAsync(string key, bool overwrite, CancellationToken cancellationToken)
    {
        var target = PathOf(key);
        var dir = Path.GetDirectoryName(target)!;
        try
        {
            CreateDirectoryDurably(dir);
            var temp = Path.Combine(dir, "." + Path.GetFileName(target) + TempMarker + Guid.NewGuid().ToString("N")[..8]);
            var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0, Options = FileOptions.None,
            });
            return Task.FromResult<ObjectWriteStream>(new FileWrite(this, key, stream, temp, target, overwrite));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgBackupException(FailureKind.PermissionDenied, $"Cannot write '{key}' in the repository at {_root}: {e.Message}", key, e);
        }
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        try
        {
            return Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ObjectNotFoundException(_root, key);
        }
    }

    public Task<StoredObjectInfo?> GetInfoAsync(string key, CancellationToken cancellationToken)
    {
        var info = new FileInfo(PathOf(key));
        return Task.FromResult(info.Exists ? new StoredObjectInfo(key, info.Length, info.LastWriteTimeUtc) : null);
    }

    public async IAsyncEnumerable<StoredObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Walk from the deepest directory the prefix names, then filter on the full prefix.
        int slash = prefix.LastIndexOf('/');
        string dirKey = slash < 0 ? "" : prefix[..slash];
        string dir = dirKey.Length == 0 ? _root : PathOf(dirKey);
        if (!Directory.Exists(dir)) yield break;
        var files = new List<StoredObjectInfo>();
        foreach (var file in new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            if (file.Name.Contains(TempMarker, StringComparison.Ordinal)) continue;
            var key = Path.GetRelativePath(_root, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (key.StartsWith(prefix, StringComparison.Ordinal)) files.Add(new StoredObjectInfo(key, file.Length, file.LastWriteTimeUtc));
        }
        files.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var f in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return f;
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        if (!File.Exists(path)) return Task.CompletedTask; // also when its directory is missing (File.Delete would throw)
        File.Delete(path);
        FileSync.SyncDirectory(Path.GetDirectoryName(path)!);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Creates <paramref name="directory"/> and any missing parents, and fsyncs the parent of each directory it created:
    /// without that, a crash can lose a new directory's entry and with it a file committed inside it (the first
    /// segment of a new timeline). An existing directory costs one stat.
    /// </summary>
    private static void CreateDirectoryDurably(string directory)
    {
        if (Directory.Exists(directory)) return;
        var created = new List<string>();
        for (string? d = directory; d is not null && !Directory.Exists(d); d = Path.GetDirectoryName(d)) created.Add(d);
        Directory.CreateDirectory(directory);
        // Deepest first: each parent's entry is synced after the directories below it exist.
        foreach (var d in created) FileSync.SyncDirectory(Path.GetDirectoryName(d)!);
    }

    private sealed class FileWrite(FileSystemStore store, string key, FileStream stream, string tempPath, string targetPath, bool overwrite) : ObjectWriteStream
    {
        private bool _committed;
        private bool _closed;

        public override void Write(byte[] buffer, int offset, int count) => stream.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => stream.Write(buffer);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => stream.WriteAsync(buffer, offset, count, ct);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => stream.WriteAsync(buffer, ct);
        public override void Flush() => stream.Flush();

        public override Task CommitAsync(CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                stream.Flush(flushToDisk: true);
                stream.Dispose();
                _closed = true;
                if (overwrite) File.Move(tempPath, targetPath, overwrite: true);
                else MoveNoReplace();
                _committed = true;
                FileSync.SyncDirectory(Path.GetDirectoryName(targetPath)!);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PgBackupException(FailureKind.OperationFailed, $"Cannot write '{key}' in the repository at {store._root}: {e.Message}", key, e);
            }
            finally
            {
                if (!_committed) TryDelete(tempPath);
            }
            return Task.CompletedTask;
        }

        private void MoveNoReplace()
        {
            // link(2) fails if the target exists, so two writers racing for one key cannot both win.
            if (!OperatingSystem.IsWindows())
            {
                if (Link(tempPath, targetPath) != 0)
                {
                    if (File.Exists(targetPath)) throw new ObjectAlreadyExistsException(store._root, key);
                    throw new IOException($"link failed with errno {Marshal.GetLastPInvokeError()}");
                }
                File.Delete(tempPath);
                return;
            }
            if (File.Exists(targetPath)) throw new ObjectAlreadyExistsException(store._root, key);
            File.Move(tempPath, targetPath, overwrite: false);
        }

        [DllImport("libc", EntryPoint = "link", SetLastError = true)]
        private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);

        private static void TryDelete(string path)
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_closed)
            {
                _closed = true;
                stream.Dispose();
                if (!_committed) TryDelete(tempPath);
            }
            base.Dispose(disposing);
        }
    }
}
