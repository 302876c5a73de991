namespace PgBackupTools.Core.Storage;

/// <summary>What a store says about one object.</summary>
public sealed record StoredObjectInfo(string Key, long Size, DateTimeOffset LastModified);

/// <summary>
/// The one small interface behind every repository: a flat namespace of keys ('/'-separated, relative) with
/// atomic writes. An object is visible only after <see cref="ObjectWriteStream.CommitAsync"/>; a write that is
/// disposed without a commit, cancelled or failed leaves nothing behind.
/// </summary>
public interface IObjectStore
{
    /// <summary>Where the store is, for messages and for the catalog ("/srv/backups", "s3://bucket/prefix").</summary>
    string Location { get; }

    /// <summary>Starts writing an object. With <paramref name="overwrite"/> false the commit fails if the key already exists.</summary>
    Task<ObjectWriteStream> CreateAsync(string key, bool overwrite, CancellationToken cancellationToken);

    /// <summary>Opens an object for reading; throws <see cref="ObjectNotFoundException"/> if there is none.</summary>
    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    Task<StoredObjectInfo?> GetInfoAsync(string key, CancellationToken cancellationToken);

    /// <summary>Every committed object whose key starts with <paramref name="prefix"/>, in ordinal key order.</summary>
    IAsyncEnumerable<StoredObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>Deletes an object; deleting one that does not exist is not an error.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>The local file path of a key when the store is a local file system (so pg_restore can seek), otherwise null.</summary>
    string? TryGetLocalPath(string key);
}

/// <summary>A write-only stream whose bytes become a visible object only when committed.</summary>
public abstract class ObjectWriteStream : Stream
{
    public abstract Task CommitAsync(CancellationToken cancellationToken);

    public sealed override bool CanRead => false;
    public sealed override bool CanSeek => false;
    public sealed override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public sealed override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public sealed override void SetLength(long value) => throw new NotSupportedException();
}
