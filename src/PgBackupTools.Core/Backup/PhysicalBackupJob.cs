using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Backup;

/// <summary>What Invoke-PgBackup -Type Physical asked for.</summary>
public sealed record PhysicalBackupOptions
{
    public CompressionKind Compression { get; init; } = CompressionKind.Zstd;
    public int? CompressionLevel { get; init; }
    public string Stanza { get; init; } = "main";
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
    /// <summary>How long to wait for the WAL through the stop LSN to reach the repository's archive.</summary>
    public TimeSpan ArchiveTimeout { get; init; } = TimeSpan.FromMinutes(2);
}

/// <summary>
/// A physical base backup: pg_basebackup's tar stream (-D - -Ft -X none, the server's backup_manifest injected at its
/// end, so pg_verifybackup can check a restored directory) streamed through compressor -> [encryptor] -> hash -> store
/// as base.tar[.zst][.enc]: no temp copy. A base backup without WAL is useless, so the manifest (the commit point) is
/// written only after the WAL through the stop LSN is in this repository's WAL archive.
/// </summary>
public static class PhysicalBackupJob
{

    // The WAL range is read from the tar stream itself as it passes: backup_label (START WAL LOCATION, START TIMELINE)
    // at its start and the server's backup_manifest (WAL-Ranges: Timeline, Start-LSN, End-LSN) at its end. That is the
    // server's own answer to BASE_BACKUP, known the moment the stream ends; pg_basebackup -v does not print the end
    // point with -X none, and the archived .backup history file would have to be found and fetched first.
    private static readonly Regex StartPoint = new(@"START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+)", RegexOptions.CultureInvariant);
    private static readonly Regex StartTimeline = new(@"START TIMELINE: (\d+)", RegexOptions.CultureInvariant);
    private static readonly Regex WalRange = new(@"""Timeline"":\s*(\d+),\s*""Start-LSN"":\s*""([0-9A-F]+/[0-9A-F]+)"",\s*""End-LSN"":\s*""([0-9A-F]+/[0-9A-F]+)""", RegexOptions.CultureInvariant);

    public static async Task<PgBackup> RunAsync(BackupRepository repository, PgConnectionInfo server, PhysicalBackupOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        RepositoryNames.ValidateStanza(options.Stanza);
        await using var connection = await PgServer.OpenAsync(server, ct).ConfigureAwait(false);
        var facts = await PgServer.GetFactsAsync(connection, ct).ConfigureAwait(false);
        long segmentSize = await ScalarAsync<long>(connection, "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'", ct).ConfigureAwait(false);
        long tablespaces = await ScalarAsync<long>(connection, "SELECT count(*) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')", ct).ConfigureAwait(false);
        if (tablespaces > 0)
        {
            // pg_basebackup writes only the main tablespace to stdout in tar format; the others would need temp files.
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"{server.Server} has {tablespaces} tablespace(s) besides pg_default and pg_global; physical backups stream only a single-tablespace cluster so far. Move the objects into pg_default, or use a logical backup.",
                server.Server);
        }
        string pgBaseBackup = PgClientTools.Find("pg_basebackup", facts.MajorVersion);
        EncryptionKey? key = repository.IsEncrypted ? repository.RequireKey() : null;

        var start = DateTimeOffset.UtcNow;
        var backup = new PgBackup
        {
            Id = RepositoryNames.NewBackupId(start),
            Type = BackupType.Physical,
            Stanza = options.Stanza,
            Server = server.Server,
            ServerVersion = facts.Version.Split(' ').ElementAtOrDefault(1),
            ServerVersionNumber = facts.VersionNumber,
            SystemIdentifier = facts.SystemIdentifier,
            StartTime = start,
            Compression = options.Compression,
            Encryption = key is null ? null : repository.Encryption!.Cipher,
            EncryptionKeyId = key?.KeyId,
            ToolVersion = BackupRepository.ToolVersion,
            ClientVersion = pgBaseBackup,
        };
        backup.BackupLabel = "pgbt " + backup.Id;
        foreach (var (k, v) in options.Labels ?? new Dictionary<string, string>()) backup.Labels[k] = v;
        context.Log($"Backup {backup.Id}: physical base backup of {server.Server} (PostgreSQL {backup.ServerVersion}) into {repository.Location}.");

        try
        {
            var meter = new ProgressMeter(context, $"Base backup of {server.Server}", null) { Status = "pg_basebackup" };
            string fileName = "base.tar" + Compression.FileExtension(options.Compression) + (key is null ? "" : BackupRepository.EncryptedExtension);
            var args = new List<string> { "--no-password", "-D", "-", "-F", "t", "-X", "none", "--checkpoint=fast", "--manifest-checksums=SHA256", "-l", backup.BackupLabel };
            context.Log($"Running {pgBaseBackup} -h {server.Host} -p {server.Port} -U {server.Username} {string.Join(' ', args)}");
            string storeKey = BackupRepository.BackupFileKey(backup.Stanza, backup.Id, fileName);
            var scan = new TarLabelScanner();
            await using (var tool = PgToolProcess.Start(pgBaseBackup, server, args))
            {
                var file = await ToolOutputWriter.WriteAsync(repository, storeKey, tool, options.Compression, options.CompressionLevel, key, meter,
                    data => scan.WriteAsync(data, ct), scan.CompleteAsync, ct, independentFrames: true).ConfigureAwait(false);
                file.Name = fileName;
                backup.Files.Add(file);
            }
            var (label, manifestTail) = await scan.Result.ConfigureAwait(false);
            var range = WalRange.Match(manifestTail ?? "");
            var startMatch = StartPoint.Match(label ?? "");
            if (!range.Success || !startMatch.Success)
                throw new PgBackupException(FailureKind.ToolFailed, "pg_basebackup's tar stream has no backup_label or no WAL-Ranges in its backup_manifest; the WAL range of the backup is unknown, so it is not kept.", pgBaseBackup);
            backup.StartLsn = range.Groups[2].Value;
            backup.StopLsn = range.Groups[3].Value;
            backup.Timeline = uint.Parse(range.Groups[1].Value, CultureInfo.InvariantCulture);
            if (startMatch.Groups[1].Value != backup.StartLsn)
                throw new PgBackupException(FailureKind.ToolFailed, $"backup_label says the backup starts at {startMatch.Groups[1].Value}, its backup_manifest at {backup.StartLsn}; not kept.", pgBaseBackup);
            backup.StartWalSegment = WalFileName.SegmentFileName(backup.Timeline.Value, Lsn.Parse(backup.StartLsn) / (ulong)segmentSize, segmentSize);
            // The segment holding the last byte of the backup's WAL (XLByteToPrevSeg, as pg_backup_stop waits for).
            backup.StopWalSegment = WalFileName.SegmentFileName(backup.Timeline.Value, (Lsn.Parse(backup.StopLsn) - 1) / (ulong)segmentSize, segmentSize);
            meter.Report();

            meter.Status = "waiting for WAL archive";
            await WaitForArchivedAsync(repository, connection, backup, options.ArchiveTimeout, context).ConfigureAwait(false);

            backup.EndTime = DateTimeOffset.UtcNow;
            await repository.WriteManifestAsync(backup, ct).ConfigureAwait(false);
            context.Log($"Backup {backup.Id} committed: {backup.SizeBytes:N0} bytes, {backup.StoredBytes:N0} stored, WAL {backup.StartLsn}..{backup.StopLsn} on timeline {backup.Timeline} archived, in {backup.Duration.TotalSeconds:F1} s.");
            return backup;
        }
        catch
        {
            await repository.AbandonUnfinishedAsync(backup, context).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Law 1: no success while data is missing. Polls the repository's WAL archive for the stop segment; pg_backup_stop
    /// has already switched WAL, and one pg_switch_wal() more wakes an archiver that sleeps. Times out with what to fix.
    /// </summary>
    internal static async Task WaitForArchivedAsync(BackupRepository repository, NpgsqlConnection connection, PgBackup backup, TimeSpan timeout, OperationContext context)
    {
        var ct = context.CancellationToken;
        var archive = new WalArchive(repository, backup.Stanza);
        var sw = Stopwatch.StartNew();
        bool switched = false;
        context.Log($"Waiting for WAL segment {backup.StopWalSegment} to reach the archive of stanza '{backup.Stanza}' in {repository.Location}.");
        while (!await archive.ContainsAsync(backup.StopWalSegment!, ct).ConfigureAwait(false))
        {
            if (sw.Elapsed > timeout)
            {
                string archiver = await ScalarAsync<string>(connection,
                    "SELECT format('archive_mode=%s, archive_command=%L, last archived %s, last failed %s', current_setting('archive_mode'), current_setting('archive_command'), coalesce(last_archived_wal, 'none'), coalesce(last_failed_wal, 'none')) FROM pg_stat_archiver", ct).ConfigureAwait(false);
                throw new PgBackupException(FailureKind.OperationFailed,
                    $"The {backup.Type.ToString().ToLowerInvariant()} backup finished, but WAL segment {backup.StopWalSegment} (through stop LSN {backup.StopLsn}) did not reach the WAL archive of stanza '{backup.Stanza}' in {repository.Location} within {timeout.TotalSeconds:F0} s, so the backup cannot be restored and is not kept. " +
                    $"Is archive_command set to push into this repository? Enable-PgWalArchiving -Repository '{repository.Location}' sets it. Server: {archiver}.", backup.StopWalSegment);
            }
            if (!switched && sw.Elapsed > TimeSpan.FromSeconds(2))
            {
                await ScalarAsync<object>(connection, "SELECT pg_switch_wal()", ct).ConfigureAwait(false);
                switched = true;
            }
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        return (T)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }
}

/// <summary>
/// Reads the tar stream as it passes (through a bounded pipe) and keeps backup_label and the last 64 KiB of
/// backup_manifest (where WAL-Ranges is); every other entry is skipped unread.
/// </summary>
internal sealed class TarLabelScanner
{
    private const int ManifestTail = 64 * 1024;
    private readonly System.IO.Pipelines.Pipe _pipe = new(new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
    private bool _failed;

    public Task<(string? Label, string? ManifestTail)> Result { get; }

    public TarLabelScanner() => Result = Task.Run(ScanAsync);

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (_failed) return;
        var flush = await _pipe.Writer.WriteAsync(data, ct).ConfigureAwait(false);
        if (flush.IsCompleted) _failed = true; // the reader stopped (unreadable tar): Result reports it
    }

    public ValueTask CompleteAsync() => _pipe.Writer.CompleteAsync();

    private async Task<(string?, string?)> ScanAsync()
    {
        string? label = null, manifest = null;
        try
        {
            await using var reader = new System.Formats.Tar.TarReader(_pipe.Reader.AsStream(), leaveOpen: true);
            System.Formats.Tar.TarEntry? entry;
            while ((entry = await reader.GetNextEntryAsync().ConfigureAwait(false)) is not null)
            {
                if (entry.DataStream is null) continue;
                if (entry.Name == "backup_label") label = await new StreamReader(entry.DataStream).ReadToEndAsync().ConfigureAwait(false);
                else if (entry.Name == "backup_manifest") manifest = await TailAsync(entry.DataStream).ConfigureAwait(false);
            }
            // Drain the end-of-archive blocks so the writer never blocks on a full pipe.
            await _pipe.Reader.AsStream().CopyToAsync(Stream.Null).ConfigureAwait(false);
        }
        finally
        {
            await _pipe.Reader.CompleteAsync().ConfigureAwait(false);
        }
        return (label, manifest);
    }

    private static async Task<string> TailAsync(Stream data)
    {
        var buffer = new byte[2 * ManifestTail];
        int kept = 0, n;
        while ((n = await data.ReadAsync(buffer.AsMemory(kept)).ConfigureAwait(false)) > 0)
        {
            kept += n;
            if (kept == buffer.Length) { Buffer.BlockCopy(buffer, ManifestTail, buffer, 0, ManifestTail); kept = ManifestTail; }
        }
        return System.Text.Encoding.UTF8.GetString(buffer, 0, kept);
    }
}

/// <summary>PostgreSQL's "X/Y" LSN text.</summary>
public static class Lsn
{
    public static ulong Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2) throw new FormatException($"'{text}' is not an LSN (X/Y).");
        return (ulong.Parse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture) << 32)
             | ulong.Parse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
    }

    /// <summary>WAL bytes from <paramref name="from"/> up to <paramref name="position"/>; 0 when position is not after it.</summary>
    public static long BytesAfter(string position, string from)
    {
        ulong p = Parse(position), f = Parse(from);
        return p > f ? (long)(p - f) : 0;
    }

    public static string Format(ulong lsn) => string.Create(CultureInfo.InvariantCulture, $"{lsn >> 32:X}/{(uint)lsn:X}");
}
