using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams;

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
public sealed class WalArchive
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

    /// <summary>Opens the archive of <paramref name="stanza"/> in an existing repository (a push or fetch never creates one).</summary>
    public static async Task<WalArchive> OpenAsync(string repository, string? stanza, CancellationToken cancellationToken)
    {
        // Encryption hook: when repositories carry encryption parameters (repository.json), the passphrase source
        // (environment variable or key file named in the entry point's configuration, never an argument) is passed
        // here, and PushAsync/FetchToFileAsync wrap the body after the header in EncryptingStream/DecryptingStream.
        var repo = await BackupRepository.OpenAsync(repository, create: false, cancellationToken).ConfigureAwait(false);
        return new WalArchive(repo, stanza ?? DefaultStanza);
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
        FileStream source;
        try
        {
            source = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.SequentialScan);
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
            // 1. Which cluster: segments carry the system identifier; history and .backup files do not and are
            //    accepted for any stanza (they may even come first, after a promotion into a fresh repository).
            var binding = await ReadBindingAsync(ct).ConfigureAwait(false);
            if (name.Kind is WalFileKind.Segment or WalFileKind.Partial)
            {
                var first = new byte[WalPageHeader.Length];
                int n = await source.ReadAtLeastAsync(first, first.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                var header = WalPageHeader.Parse(first.AsSpan(0, n), full);
                if (source.Length != header.SegmentSize)
                    throw new PgBackupException(FailureKind.InvalidData,
                        $"'{full}' is {source.Length} bytes but its header says segments are {header.SegmentSize} bytes: it is not a complete WAL segment.", full);
                if (!name.FitsSegmentSize(header.SegmentSize) || header.PageAddress != name.SegmentNumber(header.SegmentSize) * header.SegmentSize)
                    throw new PgBackupException(FailureKind.InvalidData,
                        $"'{full}' is named {name.SegmentName} but its first page belongs to WAL position {header.PageAddress:X}: the file was renamed or recycled. It is refused.", full);
                binding ??= await BindAsync(header, ct).ConfigureAwait(false);
                CheckBinding(binding, header, name);
                source.Position = 0;
            }

            // 2. Already archived? (the common re-push after a crash or a lost archive_command status): one hash of
            //    the file against the archived header; nothing is compressed or written.
            var existing = await FindAsync(name, ct).ConfigureAwait(false);
            if (existing is not null)
            {
                var (sha, size) = await HashAsync(source, ct).ConfigureAwait(false);
                return Compare(name, existing.Value.Key, existing.Value.Header, new WalObjectHeader(options.Compression, size, sha), existing.Value.StoredBytes, started);
            }

            // 3. Write header + compressed body; commit with no-overwrite, so of two racing pushes only one wins.
            string key = KeyOf(name, options.Compression);
            int? level = options.Level ?? DefaultLevel(options.Compression);
            WalObjectHeader wanted;
            try
            {
                await using var writer = await Store.CreateAsync(key, overwrite: false, ct).ConfigureAwait(false);
                if (source.Length <= InMemoryLimit)
                {
                    // archive_command is on PostgreSQL's critical path: read the segment once and hash it while it is
                    // compressed (two cores, two tasks). The header goes first, so the body waits in memory: at most
                    // two segments' worth (16 MiB by default), bounded by InMemoryLimit.
                    var raw = new byte[source.Length];
                    await source.ReadExactlyAsync(raw, ct).ConfigureAwait(false);
                    var hashing = Task.Run(() => SHA256.HashData(raw), ct);
                    var body = new MemoryStream(raw.Length / 2);
                    await using (var compressor = Compression.CreateCompressor(body, options.Compression, level, leaveOpen: true))
                        await compressor.WriteAsync(raw, ct).ConfigureAwait(false);
                    wanted = new WalObjectHeader(options.Compression, raw.Length, await hashing.ConfigureAwait(false));
                    await writer.WriteAsync(wanted.ToBytes(), ct).ConfigureAwait(false);
                    await writer.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length), ct).ConfigureAwait(false);
                }
                else
                {
                    // Larger segments (wal_segment_size up to 1 GiB) stream twice: hash, then compress while re-hashing.
                    var (sha, size) = await HashAsync(source, ct).ConfigureAwait(false);
                    wanted = new WalObjectHeader(options.Compression, size, sha);
                    source.Position = 0;
                    await writer.WriteAsync(wanted.ToBytes(), ct).ConfigureAwait(false);
                    var reread = new HashingStream(source, leaveOpen: true);
                    await using (var compressor = Compression.CreateCompressor(writer, options.Compression, level, leaveOpen: true))
                        await reread.CopyToAsync(compressor, BufferSize, ct).ConfigureAwait(false);
                    // PostgreSQL never rewrites a segment it handed to archive_command; if something else did, nothing is committed.
                    if (reread.Length != size || reread.Sha256Hex != wanted.Sha256Hex)
                        throw new PgBackupException(FailureKind.InvalidData, $"'{full}' changed while it was being archived; nothing was stored. PostgreSQL will retry.", full);
                }
                await writer.CommitAsync(ct).ConfigureAwait(false);
            }
            catch (ObjectAlreadyExistsException)
            {
                source.Position = 0;
                var (sha, size) = await HashAsync(source, ct).ConfigureAwait(false);
                var raced = await FindAsync(name, ct).ConfigureAwait(false)
                    ?? throw new PgBackupException(FailureKind.OperationFailed, $"{key} was reported existing but cannot be read.", key);
                return Compare(name, raced.Key, raced.Header, new WalObjectHeader(options.Compression, size, sha), raced.StoredBytes, started);
            }
            long size0 = wanted.RawSize;
            var stored = await Store.GetInfoAsync(key, ct).ConfigureAwait(false);
            context.Log($"Archived {name} as {key} ({size0} → {stored?.Size} bytes).");
            return Describe(name, key, wanted, stored?.Size ?? 0, alreadyArchived: false, started);
        }
    }

    /// <summary>Segments up to this size are pushed from memory in one read (see PushAsync).</summary>
    private const long InMemoryLimit = 64L << 20;

    private static async Task<(byte[] Sha256, long Size)> HashAsync(Stream source, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
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

    private PgWalSegment Compare(WalFileName name, string key, WalObjectHeader archived, WalObjectHeader wanted, long storedBytes, long started)
    {
        if (archived.RawSize == wanted.RawSize && CryptographicOperations.FixedTimeEquals(archived.Sha256, wanted.Sha256))
            return Describe(name, key, archived, storedBytes, alreadyArchived: true, started);
        throw new WalConflictException(name.Name, key, Store.Location, archived.Sha256Hex, wanted.Sha256Hex);
    }

    private PgWalSegment Describe(WalFileName name, string key, WalObjectHeader header, long storedBytes, bool alreadyArchived, long started) => new()
    {
        Name = name.Name,
        Kind = name.Kind.ToString(),
        Timeline = name.Timeline,
        Stanza = Stanza,
        Bytes = header.RawSize,
        StoredBytes = storedBytes,
        Sha256 = header.Sha256Hex,
        Compression = header.Compression,
        AlreadyArchived = alreadyArchived,
        Key = key,
        Repository = Store.Location,
        Seconds = Stopwatch.GetElapsedTime(started).TotalSeconds,
    };

    /// <summary>The archived object of <paramref name="name"/>, under whichever compression it was stored, or null.</summary>
    private async Task<(string Key, WalObjectHeader Header, long StoredBytes)?> FindAsync(WalFileName name, CancellationToken ct)
    {
        foreach (var kind in AllKinds)
        {
            string key = KeyOf(name, kind);
            var info = await Store.GetInfoAsync(key, ct).ConfigureAwait(false);
            if (info is null) continue;
            await using var stream = await Store.OpenReadAsync(key, ct).ConfigureAwait(false);
            var header = await WalObjectHeader.ReadAsync(stream, key, ct).ConfigureAwait(false);
            if (header.Compression != kind)
                throw new PgBackupException(FailureKind.InvalidData, $"The archived WAL object '{key}' says it is {header.Compression}-compressed, against its extension. It is left as it is; check the storage.", key);
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
        string? spool = null;
        WalArchiveBinding? binding = null;
        if (options.Prefetch > 0 && name.Kind == WalFileKind.Segment)
        {
            binding = await ReadBindingAsync(ct).ConfigureAwait(false);
            if (binding is not null) spool = options.SpoolDirectory ?? Path.Combine(Path.GetDirectoryName(destination)!, SpoolFolderName);
        }

        var found = await FindAsync(name, ct).ConfigureAwait(false);
        if (found is null)
        {
            if (spool is not null) WalSpool.Clean(spool, name.Name);
            return null;
        }
        var (key, header, storedBytes) = found.Value;

        PgWalSegment result;
        if (spool is not null && WalSpool.TryServe(spool, name.Name, header, destination))
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
            catch (PgBackupException e)
            {
                // Never fatal: the file is fetched (and the failure reported) when PostgreSQL asks for it.
                context.Log($"Prefetch of {next} failed: {e.Message}");
            }
        }).ConfigureAwait(false);
    }

    /// <summary>Decompresses an archived object into a temp file beside <paramref name="destination"/>, verifies it, renames it into place.</summary>
    private async Task FetchToFileAsync(string key, WalObjectHeader header, string destination, CancellationToken ct)
    {
        string dir = Path.GetDirectoryName(destination)!;
        string temp = Path.Combine(dir, "." + Path.GetFileName(destination) + FileSystemStore.TempMarker + Guid.NewGuid().ToString("N")[..8]);
        bool done = false;
        try
        {
            await using (var stored = await Store.OpenReadAsync(key, ct).ConfigureAwait(false))
            {
                await WalObjectHeader.ReadAsync(stored, key, ct).ConfigureAwait(false); // the same header FindAsync read
                await using var body = Compression.CreateDecompressor(stored, header.Compression, leaveOpen: true);
                var hashing = new HashingStream(body, leaveOpen: true);
                await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize))
                {
                    await hashing.CopyToAsync(output, BufferSize, ct).ConfigureAwait(false);
                }
                if (hashing.Length != header.RawSize || hashing.Sha256Hex != header.Sha256Hex)
                    throw new WalChecksumException(key, Store.Location, header.Sha256Hex, hashing.Sha256Hex, header.RawSize, hashing.Length);
            }
            // No fsync: a restored WAL file need not survive a crash (recovery asks for it again), and an fsync per
            // 16 MiB segment would dominate recovery time. The rename still makes it appear whole or not at all.
            File.Move(temp, destination, overwrite: true);
            done = true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PgBackupException(FailureKind.OperationFailed, $"Cannot write {destination}: {e.Message}", destination, e);
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException)
        {
            throw new WalChecksumException(key, Store.Location, header.Sha256Hex, "(undecodable: " + e.Message + ")", header.RawSize, -1);
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
        {
            var parts = obj.Key.Split('/');
            if (parts.Length != 4) continue;
            string file = parts[3];
            foreach (var kind in AllKinds)
            {
                string ext = Compression.FileExtension(kind);
                if (ext.Length > 0 && !file.EndsWith(ext, StringComparison.Ordinal)) continue;
                if (WalFileName.TryParse(file[..^ext.Length], out var name) && name.TimelineDirectory == parts[2])
                {
                    files.Add((name, obj));
                    break;
                }
            }
        }
        return files;
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
}

/// <summary>A push of a file whose name is archived with different content: refused, the archived copy is kept.</summary>
public sealed class WalConflictException(string name, string key, string location, string archivedSha256, string pushedSha256)
    : PgBackupException(FailureKind.AlreadyExists,
        $"WAL file {name} is already archived in {location} ({key}) with different content (SHA-256 {archivedSha256}, this file {pushedSha256}). " +
        "The archived copy is kept and nothing was written. Is a second cluster archiving into the same stanza, or is pg_wal damaged? Investigate before taking a new base backup.", name)
{
    public string Key { get; } = key;
}

/// <summary>An archived WAL object whose content does not match its recorded SHA-256 or size.</summary>
public sealed class WalChecksumException(string key, string location, string expected, string actual, long expectedSize, long actualSize)
    : PgBackupException(FailureKind.InvalidData,
        $"The archived WAL object '{key}' in {location} is damaged: it records SHA-256 {expected} ({expectedSize} bytes) but decodes to {actual} ({actualSize} bytes). " +
        "Nothing was written. Check the storage; recovery cannot continue past this segment from this archive.", key);

/// <summary>A push of WAL from a cluster other than the one the stanza is bound to: refused.</summary>
public sealed class WalWrongClusterException(string message, string name) : PgBackupException(FailureKind.InvalidData, message, name);
