using System.Globalization;
using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// Keeps a running backup's <see cref="BackupInProgressMarker"/> in the repository: written before the backup starts on
/// the server, updated once its start is known, rewritten every <see cref="Interval"/> (its LastModified is the
/// heartbeat a prune and the leftover cleanup judge, also while one long file upload shows nothing else), and deleted
/// once the manifest is committed. Store requests: one PUT to begin, one when the start is known, one per interval,
/// one DELETE at the end.
/// </summary>
internal sealed class InProgressHeartbeat
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMinutes(1);

    private readonly BackupRepository _repository;
    private readonly OperationContext _context;
    private readonly long _segmentSize;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private BackupInProgressMarker _marker;
    private Task _loop = Task.CompletedTask;

    /// <summary>How many times the marker was written (the first, the update, the heartbeats).</summary>
    public int Writes { get; private set; }
    public TimeSpan Interval { get; }
    public BackupInProgressMarker Marker => _marker;
    private string Key => BackupInProgressMarker.KeyOf(_marker.Stanza, _marker.BackupId);

    private InProgressHeartbeat(BackupRepository repository, BackupInProgressMarker marker, long segmentSize, TimeSpan interval, OperationContext context)
    {
        _repository = repository;
        _marker = marker;
        _segmentSize = segmentSize;
        Interval = interval;
        _context = context;
    }

    /// <summary>
    /// Writes the marker of <paramref name="backup"/> (not yet started on the server) with the redo point of the server's
    /// last checkpoint: the start LSN the server is about to choose is at or after it (a backup's checkpoint, or a
    /// standby's restartpoint, never goes back), so from this moment on a prune keeps every segment the backup can need.
    /// A failure to write fails the backup: it must not run unseen.
    /// </summary>
    public static async Task<InProgressHeartbeat> StartAsync(BackupRepository repository, NpgsqlConnection connection, PgBackup backup, long segmentSize,
        OperationContext context, TimeSpan? interval = null)
    {
        var (redo, timeline) = await LastCheckpointAsync(connection, context.CancellationToken).ConfigureAwait(false);
        var every = interval ?? DefaultInterval;
        var now = DateTimeOffset.UtcNow;
        var marker = new BackupInProgressMarker
        {
            BackupId = backup.Id, Stanza = backup.Stanza, Type = backup.Type, Phase = BackupInProgressMarker.StartingPhase,
            StartLsn = redo, StartWalSegment = SegmentOf(redo, timeline, segmentSize), Timeline = timeline,
            Server = backup.Server, Host = Environment.MachineName, Pid = Environment.ProcessId,
            StartedAt = backup.StartTime, HeartbeatAt = now, HeartbeatSeconds = (int)Math.Ceiling(every.TotalSeconds), ToolVersion = BackupRepository.ToolVersion,
        };
        var heartbeat = new InProgressHeartbeat(repository, marker, segmentSize, every, context);
        await heartbeat.WriteAsync(m => m, context.CancellationToken).ConfigureAwait(false);
        context.Log($"Backup {backup.Id}: wrote {heartbeat.Key} (start at or after {redo}); a WAL prune keeps the WAL from {marker.StartWalSegment} while it is there.");
        heartbeat._loop = heartbeat.BeatAsync();
        return heartbeat;
    }

    /// <summary>
    /// pg_backup_start returned <paramref name="startLsn"/> on a primary. Its timeline is taken from the checkpoint read
    /// before the start rather than asked again on the backup's session (which then shows its pg_backup_start as its
    /// last query): on a primary they are the same, except just after a promotion and before its first checkpoint,
    /// where the marker names the previous timeline; the prune's cut is a segment number on every timeline, so it keeps
    /// the same WAL either way, and the manifest records the timeline of backup_label.
    /// </summary>
    public Task StartedAtAsync(string startLsn, CancellationToken ct) => StartedAtAsync(startLsn, _marker.Timeline, ct);

    /// <summary>The server fixed the backup's start: the marker says it exactly from now on.</summary>
    public async Task StartedAtAsync(string startLsn, uint timeline, CancellationToken ct)
    {
        await WriteAsync(m => m with
        {
            Phase = BackupInProgressMarker.RunningPhase, StartLsn = startLsn, Timeline = timeline,
            StartWalSegment = SegmentOf(startLsn, timeline, _segmentSize), HeartbeatAt = DateTimeOffset.UtcNow,
        }, ct).ConfigureAwait(false);
        _context.Log($"Backup {_marker.BackupId}: the server started it at {startLsn} on timeline {timeline}; {Key} says so.");
    }

    /// <summary>
    /// After the manifest is committed: stops the heartbeat and deletes the marker. A failure to delete is only a
    /// warning: a marker beside a manifest is ignored (the manifest says what the backup needs).
    /// </summary>
    public async Task EndAsync()
    {
        await StopAsync().ConfigureAwait(false);
        try
        {
            await _repository.Store.DeleteAsync(Key, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _context.Warn($"Backup {_marker.BackupId} is committed, but its marker {Key} could not be removed ({e.Message}); WAL pruning ignores it beside the manifest.");
        }
    }

    /// <summary>Stops rewriting the marker (before a failed backup's folder is removed, so no beat puts it back).</summary>
    public async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested) await _stop.CancelAsync().ConfigureAwait(false);
        try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
    }

    private async Task BeatAsync()
    {
        while (true)
        {
            await Task.Delay(Interval, _stop.Token).ConfigureAwait(false);
            try
            {
                await WriteAsync(m => m with { HeartbeatAt = DateTimeOffset.UtcNow }, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
            {
                // The backup goes on: its start WAL is checked before commit, so a prune that outlived a silent marker fails it loudly.
                _context.Warn($"Backup {_marker.BackupId}: could not refresh {Key} ({e.Message}); a WAL prune may treat the backup as abandoned once it is older than the prune's grace period.");
            }
        }
    }

    /// <summary>Writes what <paramref name="change"/> makes of the current marker; one write at a time, so a beat never puts back an older phase.</summary>
    private async Task WriteAsync(Func<BackupInProgressMarker, BackupInProgressMarker> change, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var marker = change(_marker);
            await using (var writer = await _repository.Store.CreateAsync(Key, overwrite: true, ct).ConfigureAwait(false))
            {
                await writer.WriteAsync(marker.ToSealedJson(), ct).ConfigureAwait(false);
                await writer.CommitAsync(ct).ConfigureAwait(false);
            }
            _marker = marker;
            Writes++;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static string SegmentOf(string lsn, uint timeline, long segmentSize) =>
        WalFileName.SegmentFileName(timeline, Lsn.Parse(lsn) / (ulong)segmentSize, segmentSize);

    /// <summary>The redo point and timeline of the server's last checkpoint (a standby's last restartpoint), from pg_control.</summary>
    private static async Task<(string RedoLsn, uint Timeline)> LastCheckpointAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT redo_lsn::text, timeline_id FROM pg_control_checkpoint()", connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false) || reader.IsDBNull(0))
            throw new PgBackupException(FailureKind.ToolFailed, "pg_control_checkpoint() returned no checkpoint; the backup's WAL cannot be protected from pruning, so it does not start.");
        return (reader.GetString(0), (uint)Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture));
    }
}
