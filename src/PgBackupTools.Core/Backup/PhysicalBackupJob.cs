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
    /// <summary>How the files are read; Auto: a file copy where it runs on the server's host, else pg_basebackup.</summary>
    public PhysicalBackupMethod Method { get; init; } = PhysicalBackupMethod.Auto;
    /// <summary>How long to wait for the WAL through the stop LSN to reach the repository's archive.</summary>
    public TimeSpan ArchiveTimeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>How often the backup's in-progress marker is rewritten; null: <see cref="InProgressHeartbeat.DefaultInterval"/>.</summary>
    internal TimeSpan? HeartbeatInterval { get; init; }
}

/// <summary>
/// A physical base backup, stored as one tar (base.tar[.zst][.enc]) with a PostgreSQL backup_manifest at its end, so
/// pg_verifybackup can check a restored directory. Two ways to read the cluster, one format:
/// - FileCopy, where this runs on the server's host with read access to the data directory: the files are read
///   directly between pg_backup_start and pg_backup_stop (<see cref="DataDirectoryCopy"/>), as pgBackRest does. No
///   walsender, no second process and no server-side checksums: about half the CPU of pg_basebackup's route.
/// - BaseBackup, from anywhere: pg_basebackup's tar stream (-D - -Ft -X none, the server's backup_manifest injected).
/// Either way the tar streams through compressor -> [encryptor] -> hash -> store: no temp copy. A base backup
/// without WAL is useless, so the manifest (the commit point) is written only after the WAL through the stop LSN is
/// in this repository's WAL archive.
/// </summary>
public static class PhysicalBackupJob
{
    /// <summary>
    /// The progress status of a file-copy backup from the moment its in-progress marker holds its exact start until the
    /// copy ends; its first report comes before any file is read.
    /// </summary>
    public const string CopyingStatus = "copying files";

    // The WAL range is read from the tar stream itself as it passes: backup_label (START WAL LOCATION, START TIMELINE)
    // at its start and the server's backup_manifest (WAL-Ranges: Timeline, Start-LSN, End-LSN) at its end. That is the
    // server's own answer to BASE_BACKUP, known the moment the stream ends; pg_basebackup -v does not print the end
    // point with -X none, and the archived .backup history file would have to be found and fetched first.
    private static readonly Regex StartPoint = new(@"START WAL LOCATION: ([0-9A-F]+/[0-9A-F]+)", RegexOptions.CultureInvariant);
    private static readonly Regex StartTimelineOfLabel = new(@"START TIMELINE: (\d+)", RegexOptions.CultureInvariant);
    private static readonly Regex WalRange = new(@"""Timeline"":\s*(\d+),\s*""Start-LSN"":\s*""([0-9A-F]+/[0-9A-F]+)"",\s*""End-LSN"":\s*""([0-9A-F]+/[0-9A-F]+)""", RegexOptions.CultureInvariant);

    public static async Task<PgBackup> RunAsync(BackupRepository repository, PgConnectionInfo server, PhysicalBackupOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        RepositoryNames.ValidateStanza(options.Stanza);
        await using var connection = await PgServer.OpenAsync(server, ct).ConfigureAwait(false);
        await WalArchivingPrecheck.ThrowIfWalCannotReachArchiveOnAsync(connection, server, repository.Location, ct).ConfigureAwait(false);
        var facts = await PgServer.GetFactsAsync(connection, ct).ConfigureAwait(false);
        long segmentSize = await PgServer.WalSegmentSizeAsync(connection, ct).ConfigureAwait(false);
        var tablespaces = await ReadTablespacesAsync(connection, ct).ConfigureAwait(false);
        var (dataDirectory, notCopied) = await ChooseDataDirectoryAsync(connection, facts, options.Method, server, context).ConfigureAwait(false);
        if (dataDirectory is null && tablespaces.Count > 0)
        {
            // pg_basebackup -Ft -D - writes only the main tablespace to stdout; the others would need a tar file each.
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"{server.Server} has {tablespaces.Count} tablespace(s) besides pg_default and pg_global ({string.Join(", ", tablespaces.Select(t => t.Name))}), which the BaseBackup method cannot stream (pg_basebackup sends only the main tablespace to stdout); nothing was stored. " +
                $"Run Invoke-PgBackup -Type Physical -Method FileCopy on the server's host, as root or the server's owner{(notCopied is null ? "" : $" (FileCopy is not possible from here: {notCopied})")}; or move the objects into pg_default, or take a logical backup.",
                server.Server);
        }
        string pgBaseBackup = dataDirectory is null ? PgClientTools.Find("pg_basebackup", facts.MajorVersion) : "";
        EncryptionKey? key = repository.IsEncrypted ? repository.RequireKey() : null;

        var backup = BackupRecord.Start(BackupType.Physical, options.Stanza, server, facts, repository, key, options.Labels);
        backup.Compression = options.Compression;
        backup.ClientVersion = dataDirectory is null ? pgBaseBackup : null;
        backup.Method = dataDirectory is null ? PhysicalBackupMethod.BaseBackup : PhysicalBackupMethod.FileCopy;
        backup.BackupLabel = "pgbt " + backup.Id;
        if (tablespaces.Count > 0) backup.Tablespaces = tablespaces;
        context.Log($"Backup {backup.Id}: physical base backup of {server.Server} (PostgreSQL {backup.ServerVersion}) into {repository.Location}, {(dataDirectory is null ? "streamed by pg_basebackup" : "copied from " + dataDirectory)}.");

        InProgressHeartbeat? heartbeat = null;
        try
        {
            // Before the server starts the backup: from here on a concurrent WAL prune keeps what it will need.
            heartbeat = await InProgressHeartbeat.StartAsync(repository, connection, backup, segmentSize, context, options.HeartbeatInterval).ConfigureAwait(false);
            var meter = new ProgressMeter(context, $"Base backup of {server.Server}", null);
            string fileName = "base.tar" + Compression.FileExtension(options.Compression) + (key is null ? "" : BackupRepository.EncryptedExtension);
            string storeKey = BackupRepository.BackupFileKey(backup.Stanza, backup.Id, fileName);
            bool carriesPostgresqlConf;
            if (dataDirectory is null) carriesPostgresqlConf = await StreamBaseBackupAsync(repository, server, pgBaseBackup, backup, storeKey, fileName, options, key, meter, heartbeat, context).ConfigureAwait(false);
            else
            {
                await CopyDataDirectoryAsync(repository, connection, facts, dataDirectory, tablespaces, backup, storeKey, fileName, options, key, meter, heartbeat, context).ConfigureAwait(false);
                carriesPostgresqlConf = File.Exists(Path.Combine(dataDirectory, "postgresql.conf"));
            }
            meter.Status = "configuration files";
            await ServerConfigurationCapture.CaptureAsync(repository, server, facts, backup, carriesPostgresqlConf, options.Compression, options.CompressionLevel, key, context).ConfigureAwait(false);
            await RefuseTablespacesCreatedDuringAsync(connection, tablespaces, backup, ct).ConfigureAwait(false);
            SetWalSegments(backup, segmentSize);
            meter.Report();

            meter.Status = "waiting for WAL archive";
            await WaitForArchivedAsync(repository, connection, backup, options.ArchiveTimeout, context).ConfigureAwait(false);

            backup.EndTime = DateTimeOffset.UtcNow;
            await repository.CommitBackupAsync(backup, ct).ConfigureAwait(false);
            await heartbeat.EndAsync().ConfigureAwait(false);
            context.Log($"Backup {backup.Id} committed: {backup.SizeBytes:N0} bytes, {backup.StoredBytes:N0} stored, WAL {backup.StartLsn}..{backup.StopLsn} on timeline {backup.Timeline} archived, in {backup.Duration.TotalSeconds:F1} s.");
            return backup;
        }
        catch
        {
            if (heartbeat is not null) await heartbeat.StopAsync().ConfigureAwait(false);
            await repository.AbandonUnfinishedAsync(backup, context).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The WAL segments of a backup's start and stop LSN on its timeline.</summary>
    internal static void SetWalSegments(PgBackup backup, long segmentSize)
    {
        backup.StartWalSegment = WalFileName.SegmentFileName(backup.Timeline!.Value, Lsn.Parse(backup.StartLsn!) / (ulong)segmentSize, segmentSize);
        // The segment holding the last byte of the backup's WAL (XLByteToPrevSeg, as pg_backup_stop waits for).
        backup.StopWalSegment = WalFileName.SegmentFileName(backup.Timeline.Value, (Lsn.Parse(backup.StopLsn!) - 1) / (ulong)segmentSize, segmentSize);
    }

    /// <summary>The server's tablespaces besides pg_default and pg_global, with the directory each is in.</summary>
    private static async Task<List<PgBackupTablespace>> ReadTablespacesAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        var found = new List<PgBackupTablespace>();
        await using var cmd = new NpgsqlCommand("SELECT oid::bigint, spcname::text, pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY oid", connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
            found.Add(new PgBackupTablespace { Oid = (uint)reader.GetInt64(0), Name = reader.GetString(1), Location = reader.IsDBNull(2) ? "" : reader.GetString(2) });
        return found;
    }

    /// <summary>
    /// A tablespace created while the files were copied (or streamed) is not in the backup, and its CREATE TABLESPACE is
    /// in the backup's WAL: every restore, Test-PgBackup's too, would replay it at the original location, where
    /// PostgreSQL's redo first removes an existing version directory (on the server's host: the live server's
    /// tablespace). Such a backup is not kept. (One created after the stop and before this check fails it too: rare, and
    /// taking the backup again is the answer either way.)
    /// </summary>
    private static async Task RefuseTablespacesCreatedDuringAsync(NpgsqlConnection connection, IReadOnlyList<PgBackupTablespace> before, PgBackup backup, CancellationToken ct)
    {
        var known = before.Select(t => t.Oid).ToHashSet();
        var created = (await ReadTablespacesAsync(connection, ct).ConfigureAwait(false)).Where(t => !known.Contains(t.Oid)).ToList();
        if (created.Count > 0)
            throw new PgBackupException(FailureKind.OperationFailed,
                $"Tablespace(s) {string.Join(", ", created.Select(t => $"{t.Name} at '{t.Location}'"))} were created while backup {backup.Id} ran; a restore of it would replay their creation at that location (removing what is there), so it is not kept. Take the backup again.",
                backup.Id);
    }

    /// <summary>
    /// The data directory to copy, or null for pg_basebackup (and why not a copy, when FileCopy was not asked against):
    /// a file copy needs this host to be the server's (its data_directory readable here, with the server's own system
    /// identifier in global/pg_control) and a primary.
    /// </summary>
    private static async Task<(string? DataDirectory, string? NotCopied)> ChooseDataDirectoryAsync(NpgsqlConnection connection, ServerFacts facts, PhysicalBackupMethod method, PgConnectionInfo server, OperationContext context)
    {
        if (method == PhysicalBackupMethod.BaseBackup) return (null, null);
        var ct = context.CancellationToken;
        string? reason = null, dataDirectory = null;
        try
        {
            dataDirectory = await PgServer.ScalarAsync<string>(connection, "SELECT current_setting('data_directory')", ct).ConfigureAwait(false);
            if (await PgServer.ScalarAsync<bool>(connection, "SELECT pg_is_in_recovery()", ct).ConfigureAwait(false))
                reason = "the server is a standby";
            else reason = CheckLocalDataDirectory(dataDirectory, facts.SystemIdentifier);
        }
        catch (PostgresException e)
        {
            reason = $"the data directory's location is not readable with this role ({e.MessageText}); pg_read_all_settings grants it";
        }
        if (reason is null) return (dataDirectory, null);
        if (method == PhysicalBackupMethod.FileCopy)
            throw new PgBackupException(FailureKind.InvalidArgument, $"-Method FileCopy cannot copy {server.Server}: {reason}. Run it on the server's host as a user that can read the data directory (root or the server's owner), or use -Method BaseBackup.", server.Server);
        context.Log($"Streaming the backup with pg_basebackup rather than copying the files: {reason}.");
        return (null, reason);
    }

    /// <summary>Null when <paramref name="dataDirectory"/> here is the server's (its pg_control readable, with the server's system identifier); else why not.</summary>
    internal static string? CheckLocalDataDirectory(string dataDirectory, string? systemIdentifier)
    {
        string control = Path.Combine(dataDirectory, ControlFile.RelativePath);
        string found;
        try
        {
            found = ControlFile.ReadSystemIdentifier(dataDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{control} is not readable here ({e.Message}): not the server's host, or not a user that can read its files";
        }
        return systemIdentifier is not null && found == systemIdentifier ? null
            : $"{control} belongs to cluster {found}, not to the server's {systemIdentifier ?? "(unknown)"}: another cluster at the same path";
    }

    /// <returns>Whether the tar holds a postgresql.conf (the server's configuration is, most likely, in its data directory).</returns>
    private static async Task<bool> StreamBaseBackupAsync(BackupRepository repository, PgConnectionInfo server, string pgBaseBackup, PgBackup backup,
        string storeKey, string fileName, PhysicalBackupOptions options, EncryptionKey? key, ProgressMeter meter, InProgressHeartbeat heartbeat, OperationContext context)
    {
        var ct = context.CancellationToken;
        meter.Status = "pg_basebackup";
        var args = new List<string> { "--no-password", "-D", "-", "-F", "t", "-X", "none", "--checkpoint=fast", "--manifest-checksums=SHA256", "-l", backup.BackupLabel! };
        // backup_label is the tar's first entry: the exact start, known before the data directory streams.
        var scan = new TarLabelScanner(async label =>
        {
            var start = StartPoint.Match(label);
            var timeline = StartTimelineOfLabel.Match(label);
            if (!start.Success || !timeline.Success) return; // the check after the stream fails the backup
            try
            {
                await heartbeat.StartedAtAsync(start.Groups[1].Value, uint.Parse(timeline.Groups[1].Value, CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
            {
                context.Warn($"Backup {backup.Id}: could not record its start in its in-progress marker ({e.Message}); the marker's earlier lower bound keeps protecting its WAL.");
            }
        });
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
        return scan.SawPostgresqlConf;
    }

    /// <summary>
    /// pg_backup_start, the data directory into the tar (on a thread of its own: file reads and the compressor's
    /// hand-over are blocking calls), pg_backup_stop whatever happened, then backup_label and backup_manifest.
    /// </summary>
    private static async Task CopyDataDirectoryAsync(BackupRepository repository, NpgsqlConnection connection, ServerFacts facts, string dataDirectory,
        IReadOnlyList<PgBackupTablespace> tablespaces, PgBackup backup, string storeKey, string fileName, PhysicalBackupOptions options, EncryptionKey? key, ProgressMeter meter,
        InProgressHeartbeat heartbeat, OperationContext context)
    {
        var ct = context.CancellationToken;
        await using var output = await BackupObjectWriter.CreateAsync(repository, storeKey, options.Compression, options.CompressionLevel, key, ct, independentFrames: true, hashRaw: false).ConfigureAwait(false);
        bool checksums = await PgServer.ScalarAsync<string>(connection, "SELECT current_setting('data_checksums')", ct).ConfigureAwait(false) == "on";
        int blockSize = int.Parse(await PgServer.ScalarAsync<string>(connection, "SELECT current_setting('block_size')", ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        long segmentBlocks = await PgServer.ScalarAsync<long>(connection, "SELECT setting::bigint FROM pg_settings WHERE name = 'segment_size'", ct).ConfigureAwait(false);
        var session = new NonExclusiveBackupSession(connection, facts.VersionNumber, context);
        meter.Status = "pg_backup_start";
        backup.StartLsn = await session.StartAsync(backup.BackupLabel!, ct).ConfigureAwait(false);
        var copy = new DataDirectoryCopy(dataDirectory, output.Raw, meter, context, checksums ? new PageCheck(blockSize, segmentBlocks, Lsn.Parse(backup.StartLsn)) : null);
        // The scan comes after pg_backup_start: a file created before the backup's start must be in the copy, as
        // replay begins only at the start LSN.
        var stop = await session.StopAfterAsync(async () =>
        {
            await heartbeat.StartedAtAsync(backup.StartLsn, ct).ConfigureAwait(false);
            meter.Status = CopyingStatus;
            meter.Report();
            await Task.Factory.StartNew(() =>
            {
                var entries = DataDirectoryScanner.Scan(dataDirectory,
                    new TablespaceScan(tablespaces.Select(t => t.Oid).ToHashSet(), TablespaceScan.VersionDirectoryPrefixOf(facts.VersionNumber)));
                meter.TotalBytes = entries.Sum(e => e.Size);
                copy.CopyFiles(entries, ct);
            }, ct, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        }).ConfigureAwait(false);
        if (copy.PageFailures > 0)
            throw new PgBackupException(FailureKind.InvalidData,
                $"{copy.PageFailures} data page(s) of {dataDirectory} failed their checksum ({string.Join(", ", copy.PageFailureSamples)}{(copy.PageFailures > copy.PageFailureSamples.Count ? ", ..." : "")}): the cluster holds corrupt data, and a backup of it would restore that corruption, so it is not kept. " +
                "Find the damaged relations (pg_checksums --check on a stopped copy, or amcheck), restore them from an older backup or a replica, then take a new backup.", backup.Id);
        backup.StopLsn = stop.StopLsn;
        var startMatch = StartPoint.Match(stop.LabelFile);
        if (!startMatch.Success || startMatch.Groups[1].Value != backup.StartLsn)
            throw new PgBackupException(FailureKind.ToolFailed, $"The backup_label pg_backup_stop returned does not match the start at {backup.StartLsn}; not kept.", backup.Id);
        backup.Timeline = NonExclusiveBackupSession.StartTimelineOf(stop.LabelFile, backup.Id);
        copy.AddFile("backup_label", stop.LabelFile);
        if (stop.TablespaceMapFile is not null) copy.AddFile("tablespace_map", stop.TablespaceMapFile);
        copy.Finish(backup.Timeline.Value, backup.StartLsn, backup.StopLsn);
        context.Log($"Copied {copy.FilesCopied:N0} files ({meter.Bytes:N0} bytes) from {dataDirectory}; {copy.FilesVanished} removed and {copy.FilesShrunk} shrunk during the copy; {(checksums ? $"{copy.PagesVerified:N0} page checksums verified" : "data checksums are off")}.");
        var file = await output.CommitAsync(fileName, ct).ConfigureAwait(false);
        backup.Files.Add(file);
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
                string archiver = await PgServer.ScalarAsync<string>(connection,
                    "SELECT format('archive_mode=%s, archive_command=%L, last archived %s, last failed %s', current_setting('archive_mode'), current_setting('archive_command'), coalesce(last_archived_wal, 'none'), coalesce(last_failed_wal, 'none')) FROM pg_stat_archiver", ct).ConfigureAwait(false);
                throw new PgBackupException(FailureKind.OperationFailed,
                    $"The {backup.Type.ToString().ToLowerInvariant()} backup finished, but WAL segment {backup.StopWalSegment} (through stop LSN {backup.StopLsn}) did not reach the WAL archive of stanza '{backup.Stanza}' in {repository.Location} within {timeout.TotalSeconds:F0} s, so the backup cannot be restored and is not kept. " +
                    $"Is archive_command set to push into this repository? Enable-PgWalArchiving -Repository '{repository.Location}' sets it. Server: {archiver}.", backup.StopWalSegment);
            }
            if (!switched && sw.Elapsed > TimeSpan.FromSeconds(2))
            {
                await PgServer.ScalarAsync<object>(connection, "SELECT pg_switch_wal()", ct).ConfigureAwait(false);
                switched = true;
            }
            await Task.Delay(200, ct).ConfigureAwait(false);
        }

        // PostgreSQL archives in order, so with the stop segment archived every segment since the start was too; one
        // is missing only if something removed it while this backup ran: a retention run that pruned the WAL before a
        // backup that started later and committed first. Without it the backup cannot be restored, so it is not kept.
        var continuity = await archive.CheckContinuityAsync(backup.StartWalSegment, ct).ConfigureAwait(false);
        var gap = continuity.MissingRanges.FirstOrDefault(g => g.Timeline == backup.Timeline && string.CompareOrdinal(g.First, backup.StopWalSegment) <= 0);
        if (gap is not null)
            throw new PgBackupException(FailureKind.OperationFailed,
                $"WAL {gap.First}..{gap.Last}, which the {backup.Type.ToString().ToLowerInvariant()} backup {backup.Id} needs (from {backup.StartWalSegment} to {backup.StopWalSegment}), is missing from the archive of stanza '{backup.Stanza}' in {repository.Location}, " +
                "so the backup cannot be restored and is not kept. A retention run (Remove-PgBackup, or -KeepLast/-RetentionDays of another backup that finished first) pruned it while this backup ran; " +
                "run the backup again, and do not run retention while a physical backup of the stanza is running.", gap.First);
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

    private readonly Func<string, Task>? _onLabel;

    /// <summary>Whether the tar holds postgresql.conf at its top; known once <see cref="Result"/> completed.</summary>
    public bool SawPostgresqlConf { get; private set; }

    /// <param name="onLabel">Called with backup_label as soon as it has passed (before the rest of the stream is read).</param>
    public TarLabelScanner(Func<string, Task>? onLabel = null)
    {
        _onLabel = onLabel;
        Result = Task.Run(ScanAsync);
    }

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
                if (entry.Name is "postgresql.conf" or "./postgresql.conf") SawPostgresqlConf = true;
                if (entry.Name == "backup_label")
                {
                    label = await new StreamReader(entry.DataStream).ReadToEndAsync().ConfigureAwait(false);
                    if (_onLabel is not null) await _onLabel(label).ConfigureAwait(false);
                }
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
