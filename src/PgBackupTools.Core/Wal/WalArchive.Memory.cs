using System.Diagnostics;
using System.Security.Cryptography;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// Pushes of WAL held in memory: the WAL stream (Streaming/WalStreamReceiver) receives segments over the replication
/// protocol and archives them through these, with the same header, compression, encryption, cluster binding and
/// identical-is-success / different-is-refused rule as archive_command's PushAsync.
/// </summary>
public sealed partial class WalArchive
{
    /// <summary>
    /// Archives a complete segment (or a .history file) held in memory. Identical content already archived → success
    /// with AlreadyArchived (archive_command got there first); different content → <see cref="WalConflictException"/>.
    /// </summary>
    public async Task<PgWalSegment> PushBytesAsync(WalFileName name, ReadOnlyMemory<byte> raw, WalPushOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        var started = Stopwatch.GetTimestamp();
        if (name.Kind is not (WalFileKind.Segment or WalFileKind.History))
            throw new ArgumentException($"{name} is neither a segment nor a history file.", nameof(name));
        var encryptionKey = RequireKeyIfEncrypted();
        if (name.Kind == WalFileKind.Segment)
            await CheckSegmentAsync(name, raw, complete: true, ct).ConfigureAwait(false);

        var existing = await FindAsync(name, ct).ConfigureAwait(false);
        if (existing is not null)
            return Compare(name, existing.Value.Key, existing.Value.Header, new WalObjectHeader(options.Compression, raw.Length, Digest(raw.Span), encryptionKey is not null),
                existing.Value.StoredBytes, started);

        string key = KeyOf(name, options.Compression);
        WalObjectHeader wanted;
        try
        {
            await using var writer = await Store.CreateAsync(key, overwrite: false, ct).ConfigureAwait(false);
            wanted = await WriteFromMemoryAsync(writer, raw, options.Compression, options.Level ?? DefaultLevel(options.Compression), encryptionKey, ct).ConfigureAwait(false);
            await writer.CommitAsync(ct).ConfigureAwait(false);
        }
        catch (ObjectAlreadyExistsException)
        {
            var raced = await FindAsync(name, ct).ConfigureAwait(false)
                ?? throw new PgBackupException(FailureKind.OperationFailed, $"{key} was reported existing but cannot be read.", key);
            return Compare(name, raced.Key, raced.Header, new WalObjectHeader(options.Compression, raw.Length, Digest(raw.Span), encryptionKey is not null), raced.StoredBytes, started);
        }
        var stored = await Store.GetInfoAsync(key, ct).ConfigureAwait(false);
        context.Log($"Archived {name} as {key} ({raw.Length} → {stored?.Size} bytes).");
        return Describe(name, key, wanted, stored?.Size ?? 0, alreadyArchived: false, started);
    }

    /// <summary>
    /// Writes (replacing the previous one) the WAL stream's <c>&lt;segment&gt;.partial</c>: the first
    /// <paramref name="received"/>.Length bytes of <paramref name="segment"/>, not padded. The store's atomic
    /// overwrite means a reader sees the old or the new partial, never a mix. A full-size .partial is PostgreSQL's own
    /// (archive_command at a promotion) and is never replaced. With <paramref name="checkExisting"/>, a stored partial
    /// at least as long is kept (and its size returned): a partial only ever grows.
    /// </summary>
    public async Task<long> WritePartialAsync(WalFileName segment, ReadOnlyMemory<byte> received, WalPushOptions options, bool checkExisting, CancellationToken ct)
    {
        var encryptionKey = RequireKeyIfEncrypted();
        var name = segment.AsPartial();
        await CheckSegmentAsync(segment, received, complete: false, ct).ConfigureAwait(false);
        if (checkExisting && await FindAsync(name, ct).ConfigureAwait(false) is { } existing)
        {
            // CheckSegmentAsync has just read (or written) the binding.
            if (existing.Header.RawSize >= _memoryBinding!.WalSegmentSize)
                throw new WalConflictException(name.Name, existing.Key, Store.Location, existing.Header.DigestHex, "(a streamed partial)", existing.Header.DigestName);
            // The stream received this segment before (a reconnect or a restart begins it again): never replace a
            // longer partial with a shorter one. Its bytes are a prefix of the same WAL.
            if (existing.Header.RawSize >= received.Length) return existing.Header.RawSize;
            // Another compression: remove it, so that one name has one object.
            if (existing.Key != KeyOf(name, options.Compression)) await Store.DeleteAsync(existing.Key, ct).ConfigureAwait(false);
        }
        string key = KeyOf(name, options.Compression);
        await using var writer = await Store.CreateAsync(key, overwrite: true, ct).ConfigureAwait(false);
        var header = await WriteFromMemoryAsync(writer, received, options.Compression, options.Level ?? DefaultLevel(options.Compression), encryptionKey, ct).ConfigureAwait(false);
        await writer.CommitAsync(ct).ConfigureAwait(false);
        return header.RawSize;
    }

    /// <summary>Deletes the stream's partial of <paramref name="segment"/> (under any compression); nothing if there is none.</summary>
    public async Task DeletePartialAsync(WalFileName segment, CancellationToken ct)
    {
        var name = segment.AsPartial();
        var stored = await LookUpAsync(name, ct).ConfigureAwait(false); // one listing on an object store, not a probe per extension
        foreach (var kind in AllKinds)
        {
            string key = KeyOf(name, kind);
            if (await stored.InfoAsync(key, ct).ConfigureAwait(false) is not null)
                await Store.DeleteAsync(key, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The raw bytes of an archived object (segment, partial or history), verified; null if it is not archived. For tests and checks.</summary>
    public async Task<byte[]?> ReadBytesAsync(WalFileName name, CancellationToken ct)
    {
        var found = await FindAsync(name, ct).ConfigureAwait(false);
        if (found is null) return null;
        string dir = Path.Combine(Path.GetTempPath(), "pgbt-read-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string file = Path.Combine(dir, name.Name);
            await FetchToFileAsync(found.Value.Key, found.Value.Header, file, ct).ConfigureAwait(false);
            return await File.ReadAllBytesAsync(file, ct).ConfigureAwait(false);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// archive_command pushes PostgreSQL's own <c>&lt;segment&gt;.partial</c> (the last segment of the old timeline, at a
    /// promotion) where the WAL stream keeps a shorter partial of the same segment. The streamed bytes must be a prefix of
    /// PostgreSQL's file: then the whole file replaces them (it holds everything they do); otherwise it is a conflict.
    /// </summary>
    private async Task<PgWalSegment> ReplaceStreamedPartialAsync(WalFileName name, string existingKey, Stream source, WalPushOptions options, OperationContext context, long started)
    {
        var ct = context.CancellationToken;
        var encryptionKey = RequireKeyIfEncrypted();
        var streamed = await ReadBytesAsync(name, ct).ConfigureAwait(false) ?? [];
        source.Position = 0;
        var raw = new byte[source.Length];
        await source.ReadExactlyAsync(raw, ct).ConfigureAwait(false);
        if (!raw.AsSpan(0, streamed.Length).SequenceEqual(streamed))
            throw new WalConflictException(name.Name, existingKey, Store.Location, "(the streamed partial)", Convert.ToHexString(Digest(raw)).ToLowerInvariant());
        string key = KeyOf(name, options.Compression);
        WalObjectHeader wanted;
        await using (var writer = await Store.CreateAsync(key, overwrite: true, ct).ConfigureAwait(false))
        {
            wanted = await WriteFromMemoryAsync(writer, raw, options.Compression, options.Level ?? DefaultLevel(options.Compression), encryptionKey, ct).ConfigureAwait(false);
            await writer.CommitAsync(ct).ConfigureAwait(false);
        }
        if (existingKey != key) await Store.DeleteAsync(existingKey, ct).ConfigureAwait(false);
        context.Log($"Archived {name} as {key}, replacing the WAL stream's shorter partial ({streamed.Length} bytes, a prefix of it).");
        return Describe(name, key, wanted, (await Store.GetInfoAsync(key, ct).ConfigureAwait(false))?.Size ?? 0, alreadyArchived: false, started);
    }

    private WalArchiveBinding? _memoryBinding;

    private byte[] Digest(ReadOnlySpan<byte> raw)
    {
        using var digest = NewDigest();
        digest.AppendData(raw);
        return digest.GetHashAndReset();
    }

    /// <summary>The page-header checks PushAsync makes of a file, for bytes in memory; binds the stanza on its first segment.</summary>
    private async Task CheckSegmentAsync(WalFileName name, ReadOnlyMemory<byte> raw, bool complete, CancellationToken ct)
    {
        var header = WalPageHeader.Parse(raw.Span, name.Name);
        if (complete ? raw.Length != header.SegmentSize : raw.Length > header.SegmentSize)
            throw new PgBackupException(FailureKind.InvalidData, $"{name} is {raw.Length} bytes but its header says segments are {header.SegmentSize} bytes.", name.Name);
        if (!name.FitsSegmentSize(header.SegmentSize) || header.PageAddress != name.SegmentNumber(header.SegmentSize) * header.SegmentSize)
            throw new PgBackupException(FailureKind.InvalidData,
                $"{name} does not begin with its own first page (page address {header.PageAddress:X}). It is refused.", name.Name);
        // The binding is written once and never changes: the stream reads it once, not on every partial flush.
        _memoryBinding ??= await ReadBindingAsync(ct).ConfigureAwait(false) ?? await BindAsync(header, ct).ConfigureAwait(false);
        CheckBinding(_memoryBinding, header, name);
    }
}
