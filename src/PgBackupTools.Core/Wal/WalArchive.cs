using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Wal;

/// <summary>How a push compresses.</summary>
public sealed record WalPushOptions
{
    public CompressionKind Compression { get; init; } = CompressionKind.Zstd;
    /// <summary>Codec level; null = the codec's default for WAL (zstd 1: WAL is pushed on the critical path).</summary>
    public int? Level { get; init; }
}

/// <summary>How a fetch prefetches.</summary>
public sealed record WalGetOptions
{
    /// <summary>How many following segments to fetch in parallel into the spool (0 = none).</summary>
    public int Prefetch { get; init; }
    /// <summary>The spool folder; null = 'pgbt-prefetch' beside the destination (inside pg_wal for restore_command).</summary>
    public string? SpoolDirectory { get; init; }
}

/// <summary>
/// The WAL archive of one stanza: wal/&lt;stanza&gt;/archive.json (the cluster binding) and
/// wal/&lt;stanza&gt;/&lt;timeline&gt;/&lt;file&gt;&lt;ext&gt; objects in the <see cref="WalObjectHeader"/> format.
/// Used by archive_command/restore_command (the pgbt-wal entry point) and the cmdlets alike.
/// </summary>
public sealed partial class WalArchive
{
    public const string DefaultStanza = "main";
    public const string BindingName = "archive.json";
    public const string SpoolFolderName = "pgbt-prefetch";
    private const int BufferSize = 1 << 20;

    // Every extension an archived object may have. A lookup probes them all, so changing the compression of a stanza
    // never hides an archived file (and never lets a different file be pushed beside it under another extension).
    private static readonly CompressionKind[] AllKinds = [CompressionKind.Zstd, CompressionKind.Gzip, CompressionKind.Lz4, CompressionKind.None];

    public BackupRepository Repository { get; }
    public string Stanza { get; }
    private IObjectStore Store => Repository.Store;

    public WalArchive(BackupRepository repository, string stanza)
    {
        Repository = repository;
        Stanza = RepositoryNames.ValidateStanza(stanza);
    }

    /// <summary>
    /// Opens the archive of <paramref name="stanza"/> in an existing repository (a push or fetch never creates one).
    /// An encrypted repository is unlocked with <paramref name="passphrase"/> (null: the environment variable
    /// PGBACKUPTOOLS_PASSPHRASE): a wrong one throws <see cref="WrongPassphraseException"/> and none throws the "no
    /// passphrase" error, both before any WAL object is read or written. Pushes then store the body encrypted under
    /// the repository key and an HMAC instead of the plain SHA-256 (<see cref="WalObjectHeader"/>).
    /// </summary>
    /// <param name="keyRequired">False for callers that only list object names (the continuity check).</param>
    public static async Task<WalArchive> OpenAsync(string repository, string? stanza, CancellationToken cancellationToken,
        PassphraseSource? passphrase = null, bool keyRequired = true)
    {
        var repo = await BackupRepository.OpenAsync(repository, create: false, cancellationToken, passphrase, keyRequired).ConfigureAwait(false);
        try
        {
            return new WalArchive(repo, stanza ?? DefaultStanza);
        }
        catch
        {
            repo.Dispose();
            throw;
        }
    }

    /// <summary>Loads libzstd now if it is installed (pgbt-wal does this on a thread of its own while it starts).</summary>
    public static void LoadNativeLibraries() => _ = NativeZstd.Default;

    /// <summary>HKDF label of the subkey that keys the header HMAC of encrypted WAL objects (docs/encryption-format.md).</summary>
    internal static ReadOnlySpan<byte> HmacInfo => "pgbt wal hmac v1"u8;

    /// <summary>The key WAL bodies are encrypted with; null for an unencrypted repository; an error if it was opened without one.</summary>
    private EncryptionKey? RequireKeyIfEncrypted() => Repository.IsEncrypted ? Repository.RequireKey() : null;

    /// <summary>
    /// The digest a header records of the raw file: SHA-256, or in an encrypted repository HMAC-SHA256 under a subkey
    /// of the master key, so the stored object carries no fingerprint of its content that anyone could test a guess against.
    /// </summary>
    internal IncrementalHash NewDigest()
    {
        var key = RequireKeyIfEncrypted();
        if (key is null) return IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> subkey = stackalloc byte[32];
        try
        {
            key.DeriveSubkey(HmacInfo, subkey);
            return IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, subkey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(subkey);
        }
    }

    public string StanzaPrefix => $"wal/{Stanza}/";
    public string BindingKey => StorageKey.Combine("wal", Stanza, BindingName);

    public string KeyOf(WalFileName name, CompressionKind compression) =>
        StorageKey.Combine("wal", Stanza, name.TimelineDirectory, name.Name + Compression.FileExtension(compression));

    // ---------------------------------------------------------------- binding

    public async Task<WalArchiveBinding?> ReadBindingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await Store.OpenReadAsync(BindingKey, cancellationToken).ConfigureAwait(false);
            return await JsonSerializer.DeserializeAsync(stream, WalJsonContext.Default.WalArchiveBinding, cancellationToken).ConfigureAwait(false)
                ?? throw new JsonException("empty");
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
        catch (JsonException e)
        {
            throw new PgBackupException(FailureKind.InvalidData,
                $"{BindingKey} in {Store.Location} is not readable ({e.Message}); no WAL is archived into stanza '{Stanza}' until it is repaired.", BindingKey, e);
        }
    }

    private async Task<WalArchiveBinding> BindAsync(WalPageHeader header, CancellationToken cancellationToken)
    {
        var binding = new WalArchiveBinding
        {
            SystemIdentifier = header.SystemIdentifier.ToString(System.Globalization.CultureInfo.InvariantCulture),
            WalSegmentSize = header.SegmentSize,
            WalBlockSize = (int)header.BlockSize,
            WalPageMagic = header.Magic,
            PostgresMajorVersion = header.PostgresMajorVersion,
            Created = DateTimeOffset.UtcNow,
            CreatedBy = "PgBackupTools " + BackupRepository.ToolVersion,
        };
        try
        {
            await using var writer = await Store.CreateAsync(BindingKey, overwrite: false, cancellationToken).ConfigureAwait(false);
            await JsonSerializer.SerializeAsync(writer, binding, WalJsonContext.Default.WalArchiveBinding, cancellationToken).ConfigureAwait(false);
            await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
            return binding;
        }
        catch (ObjectAlreadyExistsException)
        {
            // A concurrent first push bound it: its binding is the truth, checked like any other.
            return await ReadBindingAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new PgBackupException(FailureKind.OperationFailed, $"{BindingKey} vanished while it was being created.", BindingKey);
        }
    }

    private void CheckBinding(WalArchiveBinding binding, WalPageHeader header, WalFileName name)
    {
        string sysid = header.SystemIdentifier.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (sysid != binding.SystemIdentifier)
            throw new WalWrongClusterException(
                $"WAL file {name} comes from the cluster with system identifier {sysid}, but stanza '{Stanza}' of {Store.Location} archives " +
                $"the cluster {binding.SystemIdentifier}. It is refused: give each cluster its own stanza (--stanza / -Stanza).", name.Name);
        if (header.SegmentSize != binding.WalSegmentSize)
            throw new WalWrongClusterException(
                $"WAL file {name} has {header.SegmentSize}-byte segments but stanza '{Stanza}' was bound with {binding.WalSegmentSize}-byte segments. It is refused.", name.Name);
    }

    // ---------------------------------------------------------------- push

    /// <summary>
    /// Archives one file PostgreSQL handed to archive_command. Identical content already archived → success with
    /// AlreadyArchived; different content → <see cref="WalConflictException"/> and the archived copy is untouched.
    /// </summary>
    public async Task<PgWalSegment> PushAsync(string path, WalPushOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        var started = Stopwatch.GetTimestamp();
        var name = WalFileName.Parse(Path.GetFileName(path));
        var full = Path.GetFullPath(path);
        var encryptionKey = RequireKeyIfEncrypted(); // before anything is read or written
        FileStream source;
        try
        {
            // Unbuffered: every read below is of the whole file or in 1 MiB chunks, except the 56-byte page header, which
            // a FileStream buffer would turn into a 1 MiB read into a fresh 1 MiB array.
            source = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PgBackupException(FailureKind.NotFound, $"The WAL file {full} does not exist. archive_command must be given %p (the path), relative to the data directory.", full, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgBackupException(FailureKind.PermissionDenied, $"Cannot read the WAL file {full}: {e.Message}", full, e);
        }
        await using (source.ConfigureAwait(false))
        {
            // 1. The file itself: a segment's first page must name it and carry its cluster's system identifier.
            WalPageHeader? header = null;
            if (name.Kind is WalFileKind.Segment or WalFileKind.Partial)
            {
                var first = new byte[WalPageHeader.Length];
                int n = await source.ReadAtLeastAsync(first, first.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                header = WalPageHeader.Parse(first.AsSpan(0, n), full);
                if (source.Length != header.SegmentSize)
                    throw new PgBackupException(FailureKind.InvalidData,
                        $"'{full}' is {source.Length} bytes but its header says segments are {header.SegmentSize} bytes: it is not a complete WAL segment.", full);
                if (!name.FitsSegmentSize(header.SegmentSize) || header.PageAddress != name.SegmentNumber(header.SegmentSize) * header.SegmentSize)
                    throw new PgBackupException(FailureKind.InvalidData, RecycledMessage(full, name, header), full);
                source.Position = 0;
            }

            // 2. archive_command is on PostgreSQL's critical path: the file is read once, piece by piece into a few
            //    reused buffers, each piece compressed (one-shot zstd frames, on every core) and hashed as soon as it is
            //    read — starting now, while the repository is consulted below. The header goes first, so the compressed
            //    body waits in memory (bounded by InMemoryLimit). Only a re-push (already archived) wastes the compression.
            string key = KeyOf(name, options.Compression);
            int? level = options.Level ?? DefaultLevel(options.Compression);
            var zstd = source.Length <= InMemoryLimit && options.Compression == CompressionKind.Zstd ? WalZstdFrames.EngineFor(level!.Value) : null;
            var compressing = zstd is null ? null // its reads are synchronous: on a thread of their own, not this one nor the pool's
                : Task.Factory.StartNew(() => WalZstdFrames.CompressFileAsync(zstd, source.SafeFileHandle, full, (int)source.Length, level!.Value, NewDigest, ct),
                    CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
            if (compressing is null)
                _ = Task.Run(() => NewDigest().Dispose(), CancellationToken.None); // loads the crypto library off the critical path
            try
            {
                // 3. Which cluster: segments carry the system identifier; history and .backup files do not and are
                //    accepted for any stanza (they may even come first, after a promotion into a fresh repository).
                var binding = await ReadBindingAsync(ct).ConfigureAwait(false);
                if (header is not null)
                {
                    binding ??= await BindAsync(header, ct).ConfigureAwait(false);
                    CheckBinding(binding, header, name);
                }

                // 4. Already archived? (the common re-push after a crash or a lost archive_command status): the file's
                //    digest against the archived header; nothing is written.
                var existing = await FindAsync(name, ct).ConfigureAwait(false);
                if (existing is not null && name.Kind == WalFileKind.Partial && existing.Value.Header.RawSize < source.Length)
                    return await ReplaceStreamedPartialAsync(name, existing.Value.Key, source, options, context, started).ConfigureAwait(false);
                if (existing is not null)
                {
                    var (digest, size) = await FileDigestAsync().ConfigureAwait(false);
                    return Compare(name, existing.Value.Key, existing.Value.Header, new WalObjectHeader(options.Compression, size, digest, encryptionKey is not null), existing.Value.StoredBytes, started);
                }

                // 5. Write header + compressed body; commit with no-overwrite, so of two racing pushes only one wins.
                WalObjectHeader wanted;
                try
                {
                    await using var writer = await Store.CreateAsync(key, overwrite: false, ct).ConfigureAwait(false);
                    if (compressing is not null)
                    {
                        var (digest, frames) = await compressing.ConfigureAwait(false);
                        wanted = new WalObjectHeader(options.Compression, source.Length, digest, encryptionKey is not null);
                        await WriteBodyAsync(writer, wanted, frames, encryptionKey, ct).ConfigureAwait(false);
                    }
                    else if (source.Length <= InMemoryLimit)
                    {
                        // Other codecs (or no libzstd): read the segment once and hash it while it is compressed.
                        var raw = new byte[source.Length];
                        await source.ReadExactlyAsync(raw, ct).ConfigureAwait(false);
                        wanted = await WriteFromMemoryAsync(writer, raw, options.Compression, level, encryptionKey, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        // Larger segments (wal_segment_size up to 1 GiB) stream twice: hash, then compress while re-hashing.
                        var (digest, size) = await DigestAsync(source, ct).ConfigureAwait(false);
                        wanted = new WalObjectHeader(options.Compression, size, digest, encryptionKey is not null);
                        source.Position = 0;
                        await writer.WriteAsync(wanted.ToBytes(), ct).ConfigureAwait(false);
                        var encrypting = encryptionKey is null ? null : new EncryptingStream(writer, encryptionKey, leaveOpen: true);
                        byte[] again;
                        long rereadLength = 0;
                        await using (encrypting)
                        {
                            using var redigest = NewDigest();
                            var buffer = new byte[BufferSize];
                            await using (var compressor = Compression.CreateCompressor(encrypting ?? (Stream)writer, options.Compression, level, leaveOpen: true))
                            {
                                int read;
                                while ((read = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                                {
                                    redigest.AppendData(buffer, 0, read);
                                    rereadLength += read;
                                    await compressor.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                                }
                            }
                            if (encrypting is not null) await encrypting.FlushFinalChunkAsync(ct).ConfigureAwait(false);
                            again = redigest.GetHashAndReset();
                        }
                        // PostgreSQL never rewrites a segment it handed to archive_command; if something else did, nothing is committed.
                        if (rereadLength != size || !CryptographicOperations.FixedTimeEquals(again, wanted.Digest))
                            throw new PgBackupException(FailureKind.InvalidData, $"'{full}' changed while it was being archived; nothing was stored. PostgreSQL will retry.", full);
                    }
                    await writer.CommitAsync(ct).ConfigureAwait(false);
                }
                catch (ObjectAlreadyExistsException)
                {
                    var (digest, size) = await FileDigestAsync().ConfigureAwait(false);
                    var raced = await FindAsync(name, ct).ConfigureAwait(false)
                        ?? throw new PgBackupException(FailureKind.OperationFailed, $"{key} was reported existing but cannot be read.", key);
                    return Compare(name, raced.Key, raced.Header, new WalObjectHeader(options.Compression, size, digest, encryptionKey is not null), raced.StoredBytes, started);
                }
                long size0 = wanted.RawSize;
                var stored = await Store.GetInfoAsync(key, ct).ConfigureAwait(false);
                context.Log($"Archived {name} as {key} ({size0} → {stored?.Size} bytes).");
                return Describe(name, key, wanted, stored?.Size ?? 0, alreadyArchived: false, started);
            }
            finally
            {
                // The file is closed only once nothing reads it any more (also when a check above refused the file).
                if (compressing is not null) await EndedAsync(compressing).ConfigureAwait(false);
            }

            async Task<(byte[] Digest, long Size)> FileDigestAsync()
            {
                if (compressing is not null) return ((await compressing.ConfigureAwait(false)).Digest, source.Length);
                source.Position = 0;
                return await DigestAsync(source, ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task EndedAsync(Task compressing)
    {
        try
        {
            await compressing.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Whoever needed its result has seen the error; nobody did when a check refused the file first.
        }
    }

    /// <summary>Segments up to this size are pushed from memory in one read (see PushAsync).</summary>
    private const long InMemoryLimit = 64L << 20;

    private async Task<(byte[] Digest, long Size)> DigestAsync(Stream source, CancellationToken ct)
    {
        using var hash = NewDigest();
        var buffer = new byte[BufferSize];
        long size = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            size += read;
        }
        return (hash.GetHashAndReset(), size);
    }

    private static int? DefaultLevel(CompressionKind kind) => kind == CompressionKind.Zstd ? 1 : null;

    /// <summary>
    /// Writes header + compressed (and, in an encrypted repository, encrypted) body of <paramref name="raw"/> into
    /// <paramref name="writer"/>, hashing while compressing. The caller commits. Shared by archive_command pushes and
    /// the WAL stream, so an object cannot tell which of them wrote it.
    /// </summary>
    private async Task<WalObjectHeader> WriteFromMemoryAsync(Stream writer, ReadOnlyMemory<byte> raw, CompressionKind compression, int? level,
        EncryptionKey? encryptionKey, CancellationToken ct)
    {
        if (compression == CompressionKind.Zstd && WalZstdFrames.EngineFor(level ?? ZstdCompressor.DefaultLevel) is { } zstd)
        {
            var (digest, frames) = await WalZstdFrames.CompressAsync(zstd, raw, level ?? ZstdCompressor.DefaultLevel, NewDigest, ct).ConfigureAwait(false);
            var header = new WalObjectHeader(compression, raw.Length, digest, encryptionKey is not null);
            await WriteBodyAsync(writer, header, frames, encryptionKey, ct).ConfigureAwait(false);
            return header;
        }
        var hashing = Task.Run(() =>
        {
            using var digest = NewDigest();
            digest.AppendData(raw.Span);
            return digest.GetHashAndReset();
        }, ct);
        var body = new MemoryStream(raw.Length / 2);
        await using (var compressor = Compression.CreateCompressor(body, compression, level, leaveOpen: true))
            await compressor.WriteAsync(raw, ct).ConfigureAwait(false);
        var wanted = new WalObjectHeader(compression, raw.Length, await hashing.ConfigureAwait(false), encryptionKey is not null);
        await writer.WriteAsync(wanted.ToBytes(), ct).ConfigureAwait(false);
        // Compress, then encrypt (encrypted data does not compress): the same format-1 stream as backup files.
        var compressed = body.GetBuffer().AsMemory(0, (int)body.Length);
        if (encryptionKey is null)
        {
            await writer.WriteAsync(compressed, ct).ConfigureAwait(false);
        }
        else
        {
            await using var encrypting = new EncryptingStream(writer, encryptionKey, leaveOpen: true);
            await encrypting.WriteAsync(compressed, ct).ConfigureAwait(false);
            await encrypting.FlushFinalChunkAsync(ct).ConfigureAwait(false);
        }
        return wanted;
    }

    /// <summary>Writes <paramref name="header"/> and the compressed body after it, encrypted in an encrypted repository.</summary>
    private static async Task WriteBodyAsync(Stream writer, WalObjectHeader header, IEnumerable<ReadOnlyMemory<byte>> body, EncryptionKey? encryptionKey, CancellationToken ct)
    {
        await writer.WriteAsync(header.ToBytes(), ct).ConfigureAwait(false);
        if (encryptionKey is null)
        {
            foreach (var part in body) await writer.WriteAsync(part, ct).ConfigureAwait(false);
            return;
        }
        // Compress, then encrypt (encrypted data does not compress): the same format-1 stream as backup files.
        await using var encrypting = new EncryptingStream(writer, encryptionKey, leaveOpen: true);
        foreach (var part in body) await encrypting.WriteAsync(part, ct).ConfigureAwait(false);
        await encrypting.FlushFinalChunkAsync(ct).ConfigureAwait(false);
    }

    private PgWalSegment Compare(WalFileName name, string key, WalObjectHeader archived, WalObjectHeader wanted, long storedBytes, long started)
    {
        if (archived.RawSize == wanted.RawSize && archived.Encrypted == wanted.Encrypted && CryptographicOperations.FixedTimeEquals(archived.Digest, wanted.Digest))
            return Describe(name, key, archived, storedBytes, alreadyArchived: true, started);
        throw new WalConflictException(name.Name, key, Store.Location, archived.DigestHex, wanted.DigestHex, archived.DigestName);
    }

    private PgWalSegment Describe(WalFileName name, string key, WalObjectHeader header, long storedBytes, bool alreadyArchived, long started) => new()
    {
        Name = name.Name,
        Kind = name.Kind.ToString(),
        Timeline = name.Timeline,
        Stanza = Stanza,
        Bytes = header.RawSize,
        StoredBytes = storedBytes,
        Sha256 = header.Encrypted ? "" : header.DigestHex, // an encrypted repository never reveals the plain SHA-256
        Encrypted = header.Encrypted,
        Compression = header.Compression,
        AlreadyArchived = alreadyArchived,
        Key = key,
        Repository = Store.Location,
        Seconds = Stopwatch.GetElapsedTime(started).TotalSeconds,
    };

    /// <summary>True if <paramref name="fileName"/> (a segment, .history or .backup name) is in the archive.</summary>
    public async Task<bool> ContainsAsync(string fileName, CancellationToken ct) =>
        await FindAsync(WalFileName.Parse(fileName), ct).ConfigureAwait(false) is not null;

    /// <summary>The archived object of <paramref name="name"/>, under whichever compression it was stored, or null.</summary>
    private async Task<(string Key, WalObjectHeader Header, long StoredBytes)?> FindAsync(WalFileName name, CancellationToken ct) =>
        await FindAsync(name, await LookUpAsync(name, ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    /// <summary>
    /// What the store holds under the name of <paramref name="name"/>, for <see cref="FindAsync(WalFileName, StoredNames, CancellationToken)"/>.
    /// A name may be stored under any of four extensions, and a segment that is not archived is looked for again as
    /// its WAL stream's .partial: eight keys. On an object store each probe is a round trip (and restore_command asks
    /// for missing files as a matter of course; a standby polls), so one listing of the name as a prefix answers for
    /// all of them — a segment's name is also the start of its .partial's. On the local file system a probe is a
    /// stat, far cheaper than listing a timeline's directory of thousands of segments, so there each key is probed.
    /// </summary>
    private async Task<StoredNames> LookUpAsync(WalFileName name, CancellationToken ct)
    {
        string prefix = KeyOf(name, CompressionKind.None);
        if (Store.TryGetLocalPath(prefix) is not null) return new StoredNames(Store, prefix, null);
        var listed = new Dictionary<string, StoredObjectInfo>(StringComparer.Ordinal);
        await foreach (var obj in Store.ListAsync(prefix, ct).ConfigureAwait(false)) listed[obj.Key] = obj;
        return new StoredNames(Store, prefix, listed);
    }

    /// <summary>The objects under one name's prefix, listed once; or, where <c>Listed</c> is null, the store to probe key by key.</summary>
    private sealed record StoredNames(IObjectStore Store, string Prefix, Dictionary<string, StoredObjectInfo>? Listed)
    {
        public Task<StoredObjectInfo?> InfoAsync(string key, CancellationToken ct) =>
            Listed is not null && key.StartsWith(Prefix, StringComparison.Ordinal)
                ? Task.FromResult(Listed.GetValueOrDefault(key))
                : Store.GetInfoAsync(key, ct);
    }

    private async Task<(string Key, WalObjectHeader Header, long StoredBytes)?> FindAsync(WalFileName name, StoredNames stored, CancellationToken ct)
    {
        foreach (var kind in AllKinds)
        {
            string key = KeyOf(name, kind);
            var info = await stored.InfoAsync(key, ct).ConfigureAwait(false);
            if (info is null) continue;
            await using var stream = await Store.OpenReadAsync(key, ct).ConfigureAwait(false);
            var header = await WalObjectHeader.ReadWithKeyIdAsync(stream, key, ct).ConfigureAwait(false);
            if (header.Compression != kind)
                throw new PgBackupException(FailureKind.InvalidData, $"The archived WAL object '{key}' says it is {header.Compression}-compressed, against its extension. It is left as it is; check the storage.", key);
            // An encrypted repository is encrypted from its creation on, so every object in it is encrypted: an unencrypted
            // one was put there by something else and is never served (it would bypass the authentication).
            if (header.Encrypted != Repository.IsEncrypted)
                throw new WalChecksumException(key, Store.Location, header.Encrypted
                    ? "it is marked encrypted, but this repository is not encrypted"
                    : "it is stored unencrypted, but this repository is encrypted, so it was not written by PgBackupTools");
            if (header.Encrypted && Repository.Key is { } repositoryKey && header.KeyId != repositoryKey.KeyId)
                throw new WalChecksumException(key, Store.Location,
                    $"it was encrypted with the key {header.KeyId}, not with this repository's key {repositoryKey.KeyId}");
            return (key, header, info.Size);
        }
        return null;
    }

    // ---------------------------------------------------------------- get

    /// <summary>
    /// Fetches <paramref name="fileName"/> into <paramref name="destination"/>: decompressed, verified against the
    /// archived SHA-256 and size, written atomically (the destination appears only when verified). Returns null when
    /// the archive does not have it — PostgreSQL asks for files that do not exist as a matter of course.
    /// </summary>
    public async Task<PgWalSegment?> GetAsync(string fileName, string destination, WalGetOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        var started = Stopwatch.GetTimestamp();
        var name = WalFileName.Parse(fileName);
        destination = Path.GetFullPath(destination);
        RequireKeyIfEncrypted(); // before anything is read or written
        string? spool = options.Prefetch > 0 && name.Kind == WalFileKind.Segment
            ? options.SpoolDirectory ?? Path.Combine(Path.GetDirectoryName(destination)!, SpoolFolderName)
            : null;
        WalArchiveBinding? binding = null;

        // One lookup answers for the file and its .partial: on an object store, a file that is not archived costs one call.
        var stored = await LookUpAsync(name, ct).ConfigureAwait(false);
        var found = await FindAsync(name, stored, ct).ConfigureAwait(false);
        long? padTo = null;
        if (found is null && name.Kind == WalFileKind.Segment)
        {
            // The WAL stream keeps the segment it is receiving as <segment>.partial: serve it, zero-padded to the segment
            // size (restore_command must deliver whole segments; recovery ends at the zeroed page after the last
            // streamed record), so a restore to "latest" includes the streamed tail.
            found = await FindAsync(name.AsPartial(), stored, ct).ConfigureAwait(false);
            if (found is not null)
            {
                binding = await ReadBindingAsync(ct).ConfigureAwait(false);
                if (binding is null) found = null; // a partial cannot come without a bound stanza; treat it as absent
                else
                {
                    padTo = binding.WalSegmentSize;
                    spool = null; // the spool holds whole segments only
                }
            }
        }
        if (found is null)
        {
            if (spool is not null) WalSpool.Clean(spool, name.Name);
            return null;
        }
        var (key, header, storedBytes) = found.Value;
        if (spool is not null && padTo is null)
        {
            // Prefetching needs the segment size, so only a segment that is there reads the binding.
            binding = await ReadBindingAsync(ct).ConfigureAwait(false);
            if (binding is null) spool = null;
        }
        if (padTo is not null)
        {
            await FetchToFileAsync(key, header, destination, ct, padTo).ConfigureAwait(false);
            var partial = Describe(name.AsPartial(), key, header, storedBytes, alreadyArchived: false, started);
            partial.Destination = destination;
            context.Log($"{name} is not archived; served the streamed {name.AsPartial()} ({header.RawSize} bytes) zero-padded to {padTo} bytes.");
            return partial;
        }

        PgWalSegment result;
        if (spool is not null && WalSpool.TryServe(spool, name.Name, header, destination, NewDigest))
        {
            result = Describe(name, key, header, storedBytes, alreadyArchived: false, started);
            result.Prefetched = true;
            context.Log($"Served {name} from the prefetch spool {spool}.");
        }
        else
        {
            await FetchToFileAsync(key, header, destination, ct).ConfigureAwait(false);
            result = Describe(name, key, header, storedBytes, alreadyArchived: false, started);
        }
        result.Destination = destination;

        if (spool is not null && binding is not null)
        {
            WalSpool.Clean(spool, name.Name);
            await PrefetchAsync(name, binding.WalSegmentSize, options.Prefetch, spool, context).ConfigureAwait(false);
        }
        result.Seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return result;
    }

    private async Task PrefetchAsync(WalFileName current, long segmentSize, int count, string spool, OperationContext context)
    {
        Directory.CreateDirectory(spool);
        ulong segno = current.SegmentNumber(segmentSize);
        var names = Enumerable.Range(1, count)
            .Select(i => WalFileName.Parse(WalFileName.SegmentFileName(current.Timeline, segno + (ulong)i, segmentSize)))
            .Where(n => !File.Exists(Path.Combine(spool, n.Name)))
            .ToList();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = count, CancellationToken = context.CancellationToken }, async (next, ct) =>
        {
            try
            {
                var found = await FindAsync(next, ct).ConfigureAwait(false);
                if (found is null) return; // the end of the archive (for now)
                await FetchToFileAsync(found.Value.Key, found.Value.Header, Path.Combine(spool, next.Name), ct).ConfigureAwait(false);
                context.Log($"Prefetched {next} into {spool}.");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Never fatal, whatever the cause (an unreadable object is an UnauthorizedAccessException, a store
                // outage an IOException or an SDK error): the segment asked for is already in place, and this one is
                // fetched (and its failure reported) when PostgreSQL asks for it.
                context.Log($"Prefetch of {next} failed: {e.Message}");
            }
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Decrypts (when encrypted) and decompresses an archived object into a temp file beside <paramref name="destination"/>,
    /// verifies it, renames it into place. Only authenticated chunks are ever decompressed, and the temp file is deleted
    /// on any failure: a damaged or wrong-key object never produces a destination file.
    /// </summary>
    private async Task FetchToFileAsync(string key, WalObjectHeader header, string destination, CancellationToken ct, long? padTo = null)
    {
        string dir = Path.GetDirectoryName(destination)!;
        string temp = Path.Combine(dir, "." + Path.GetFileName(destination) + FileSystemStore.TempMarker + Guid.NewGuid().ToString("N")[..8]);
        bool done = false;
        try
        {
            await using (var stored = await Store.OpenReadAsync(key, ct).ConfigureAwait(false))
            {
                await WalObjectHeader.ReadAsync(stored, key, ct).ConfigureAwait(false); // the same header FindAsync read
                var decrypting = header.Encrypted ? new DecryptingStream(stored, Repository.RequireKey(), leaveOpen: true) : null;
                await using (decrypting)
                {
                    using var digest = NewDigest();
                    long length = 0;
                    var buffer = new byte[BufferSize];
                    await using (var body = Compression.CreateDecompressor(decrypting ?? stored, header.Compression, leaveOpen: true))
                    await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize))
                    {
                        int read;
                        while ((read = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                        {
                            digest.AppendData(buffer, 0, read);
                            length += read;
                            await output.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                        }
                        if (padTo is { } size && output.Length < size) output.SetLength(size); // zeros: recovery's end of WAL
                    }
                    // The codec may stop at the end of its frame: the encrypted stream must still end with its final
                    // chunk, verified, and nothing after it (a truncated or extended object is damaged).
                    if (decrypting is not null && (await decrypting.ReadAsync(buffer, ct).ConfigureAwait(false) != 0 || !decrypting.IsComplete))
                        throw new WalChecksumException(key, Store.Location, "its encrypted body goes on after the compressed data ends");
                    byte[] actual = digest.GetHashAndReset();
                    if (length != header.RawSize || !CryptographicOperations.FixedTimeEquals(actual, header.Digest))
                        throw new WalChecksumException(key, Store.Location, header.DigestHex, Convert.ToHexString(actual).ToLowerInvariant(), header.RawSize, length, header.DigestName);
                }
            }
            // No fsync: a restored WAL file need not survive a crash (recovery asks for it again), and an fsync per
            // 16 MiB segment would dominate recovery time. The rename still makes it appear whole or not at all.
            File.Move(temp, destination, overwrite: true);
            done = true;
        }
        catch (EncryptedDataException e)
        {
            // A tag that fails (altered, truncated, another file) or another key: nothing of the failed chunk was released.
            throw new WalChecksumException(key, Store.Location, $"it does not decrypt ({e.Reason}: {e.Message})", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgBackupException(FailureKind.OperationFailed, $"Cannot write {destination}: {e.Message}", destination, e);
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException)
        {
            throw new WalChecksumException(key, Store.Location, header.DigestHex, "(undecodable: " + e.Message + ")", header.RawSize, -1, header.DigestName);
        }
        finally
        {
            if (!done) { try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { } }
        }
    }

    // ---------------------------------------------------------------- list and continuity

    /// <summary>Every archived WAL file of the stanza (names parsed from keys; no object is read), in key order.</summary>
    public async Task<List<(WalFileName Name, StoredObjectInfo Object)>> ListAsync(CancellationToken ct)
    {
        var files = new List<(WalFileName, StoredObjectInfo)>();
        await foreach (var obj in Store.ListAsync(StanzaPrefix, ct).ConfigureAwait(false))
            if (TryParseKey(obj.Key, out var name)) files.Add((name, obj));
        return files;
    }

    /// <summary>The WAL file a key of this stanza's archive holds (from any listing that covers the stanza); false for every other key.</summary>
    public bool TryParseKey(string key, out WalFileName name)
    {
        name = null!;
        var parts = key.Split('/');
        if (parts.Length != 4 || parts[0] != "wal" || parts[1] != Stanza) return false;
        string file = parts[3];
        foreach (var kind in AllKinds)
        {
            string ext = Compression.FileExtension(kind);
            if (ext.Length > 0 && !file.EndsWith(ext, StringComparison.Ordinal)) continue;
            if (WalFileName.TryParse(file[..^ext.Length], out name) && name.TimelineDirectory == parts[2]) return true;
        }
        name = null!;
        return false;
    }

    /// <summary>
    /// Checks that archived segments are continuous: on each timeline from its oldest archived segment (or from
    /// <paramref name="startSegment"/> on its timeline, and from the oldest on later timelines) to its newest.
    /// When physical backups land, their start segment (from the oldest kept backup's start LSN) is passed here.
    /// </summary>
    public async Task<PgWalArchiveReport> CheckContinuityAsync(string? startSegment, CancellationToken ct)
    {
        var report = new PgWalArchiveReport { Repository = Store.Location, Stanza = Stanza, StartSegment = startSegment };
        var binding = await ReadBindingAsync(ct).ConfigureAwait(false);
        WalFileName? start = null;
        if (startSegment is not null)
        {
            start = WalFileName.Parse(startSegment);
            if (start.Kind != WalFileKind.Segment)
                throw new PgBackupException(FailureKind.InvalidArgument, $"-StartSegment '{startSegment}' must be a segment name (24 hex digits).", startSegment);
        }
        if (binding is null)
        {
            report.Problems.Add($"Stanza '{Stanza}' has no archived WAL segment yet ({BindingKey} is missing). Is archive_command set (Enable-PgWalArchiving)?");
            return report;
        }
        report.SystemIdentifier = binding.SystemIdentifier;
        report.WalSegmentSize = binding.WalSegmentSize;
        long size = binding.WalSegmentSize;
        var files = await ListAsync(ct).ConfigureAwait(false);
        var histories = files.Where(f => f.Name.Kind == WalFileKind.History).Select(f => f.Name.Timeline).ToHashSet();
        foreach (var group in files.Where(f => f.Name.Kind == WalFileKind.Segment).GroupBy(f => f.Name.Timeline).OrderBy(g => g.Key))
        {
            var numbers = group.Select(f => f.Name.SegmentNumber(size)).Distinct().Order().ToList();
            if (start is not null)
            {
                if (group.Key < start.Timeline) continue;
                if (group.Key == start.Timeline)
                {
                    ulong from = start.SegmentNumber(size);
                    numbers = numbers.Where(n => n >= from).ToList();
                    if (numbers.Count == 0 || numbers[0] != from)
                    {
                        ulong upTo = numbers.Count == 0 ? from : numbers[0] - 1;
                        report.MissingRanges.Add(Gap(group.Key, from, upTo, size));
                    }
                }
            }
            if (numbers.Count == 0) continue;
            for (int i = 1; i < numbers.Count; i++)
                if (numbers[i] != numbers[i - 1] + 1)
                    report.MissingRanges.Add(Gap(group.Key, numbers[i - 1] + 1, numbers[i] - 1, size));
            report.Timelines.Add(new PgWalTimelineRange(group.Key, WalFileName.SegmentFileName(group.Key, numbers[0], size),
                WalFileName.SegmentFileName(group.Key, numbers[^1], size), numbers.Count, group.Key == 1 || histories.Contains(group.Key)));
            report.SegmentsFound += numbers.Count;
        }
        if (start is not null && !report.Timelines.Any(t => t.Timeline >= start.Timeline) && report.MissingRanges.Count == 0)
            report.MissingRanges.Add(Gap(start.Timeline, start.SegmentNumber(size), start.SegmentNumber(size), size));
        report.FirstSegment = report.Timelines.FirstOrDefault()?.First;
        report.LastSegment = report.Timelines.LastOrDefault()?.Last;
        foreach (var gap in report.MissingRanges)
            report.Problems.Add($"WAL is missing from the archive on timeline {gap.Timeline}: {gap}. Recovery cannot pass this gap; take a new base backup after it.");
        foreach (var tl in report.Timelines.Where(t => !t.HasHistoryFile))
            report.Problems.Add($"Timeline {tl.Timeline} has segments but no {tl.Timeline:X8}.history file in the archive.");
        if (report.SegmentsFound == 0) report.Problems.Add($"Stanza '{Stanza}' has no archived WAL segment{(start is null ? "" : " from " + start)}.");
        report.Passed = report.Problems.Count == 0;
        return report;
    }

    private static PgWalGap Gap(uint timeline, ulong first, ulong last, long size) =>
        new(timeline, WalFileName.SegmentFileName(timeline, first, size), WalFileName.SegmentFileName(timeline, last, size), (long)(last - first + 1));

    /// <summary>A segment whose first page is another segment's: WAL positions as PostgreSQL prints them (0/3000000).</summary>
    internal static string RecycledMessage(string path, WalFileName name, WalPageHeader header)
    {
        string expected = name.FitsSegmentSize(header.SegmentSize) ? $" (WAL position {Backup.Lsn.Format(name.SegmentNumber(header.SegmentSize) * header.SegmentSize)})" : "";
        string holds = WalFileName.SegmentFileName(header.Timeline, header.PageAddress / header.SegmentSize, header.SegmentSize);
        return $"'{path}' is named {name.SegmentName}{expected} but its first page belongs to WAL position {Backup.Lsn.Format(header.PageAddress)} (segment {holds}): " +
            "the file was renamed or recycled. It is refused.";
    }
}

/// <summary>A push of a file whose name is archived with different content: refused, the archived copy is kept.</summary>
public sealed class WalConflictException(string name, string key, string location, string archivedDigest, string pushedDigest, string digestName = "SHA-256")
    : PgBackupException(FailureKind.AlreadyExists,
        $"WAL file {name} is already archived in {location} ({key}) with different content ({digestName} {archivedDigest}, this file {pushedDigest}). " +
        "The archived copy is kept and nothing was written. Is a second cluster archiving into the same stanza, or is pg_wal damaged? Investigate before taking a new base backup.", name)
{
    public string Key { get; } = key;
}

/// <summary>An archived WAL object that is damaged: its content does not match its recorded digest or size, or it does not decrypt.</summary>
public sealed class WalChecksumException : PgBackupException
{
    private const string Advice = "Nothing was written. Check the storage; recovery cannot continue past this segment from this archive.";

    public WalChecksumException(string key, string location, string expected, string actual, long expectedSize, long actualSize, string digestName = "SHA-256")
        : base(FailureKind.InvalidData,
            $"The archived WAL object '{key}' in {location} is damaged: it records {digestName} {expected} ({expectedSize} bytes) but decodes to {actual} ({actualSize} bytes). " + Advice, key)
    {
    }

    public WalChecksumException(string key, string location, string reason, Exception? inner = null)
        : base(FailureKind.InvalidData, $"The archived WAL object '{key}' in {location} is damaged: {reason}. " + Advice, key, inner)
    {
    }
}

/// <summary>A push of WAL from a cluster other than the one the stanza is bound to: refused.</summary>
public sealed class WalWrongClusterException(string message, string name) : PgBackupException(FailureKind.InvalidData, message, name);
