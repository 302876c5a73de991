using System.Buffers;
using System.Globalization;
using Npgsql;
using Npgsql.Replication;
using NpgsqlTypes;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;

namespace PgBackupTools.Core.Wal.Streaming;

/// <summary>
/// Streams WAL over the physical replication protocol into a stanza's archive, like pg_receivewal into a repository:
/// complete segments go through the archive_command push path (<see cref="WalArchive.PushBytesAsync"/>), the open
/// segment is kept as <c>&lt;segment&gt;.partial</c> rewritten every flush interval (at once per message when
/// synchronous), and the server is told a flush position only for bytes durable in the repository, so a slot never
/// passes what is stored. Follows timeline switches (the history file is archived), reconnects with exponential
/// backoff, and on cancellation flushes the partial before it returns.
/// </summary>
public sealed class WalStreamReceiver
{
    private readonly WalArchive _archive;
    private readonly PgConnectionInfo _connection;
    private readonly WalStreamOptions _options;
    private readonly object _gate = new();
    private readonly SemaphoreSlim _flushLock = new(1, 1);
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly Queue<SegmentBuffer> _ready = new(); // complete segments and abandoned partials, in order
    private SegmentBuffer? _current;
    private long _segmentSize;
    private string _systemIdentifier = "";
    private PhysicalReplicationConnection? _replication;
    private ulong _durable;
    private uint _durableTimeline;
    private ulong _serverLsn;
    private Exception? _fatal;

    public WalStreamReceiver(WalArchive archive, PgConnectionInfo connection, WalStreamOptions options)
    {
        _archive = archive;
        _connection = connection;
        _options = options;
    }

    /// <summary>Invoked after every durable write (tests and the cmdlet's progress).</summary>
    public IProgress<WalStreamProgress>? Progress { get; init; }

    /// <summary>End (exclusive) of the WAL durable in the repository, and its timeline.</summary>
    public (ulong Lsn, uint Timeline) Durable { get { lock (_gate) return (_durable, _durableTimeline); } }

    /// <summary>Streams until <paramref name="context"/>'s token is cancelled (then flushes and returns the last state) or a fatal error.</summary>
    public async Task<WalStreamState> RunAsync(OperationContext context)
    {
        var ct = context.CancellationToken;
        using var stopFlusher = new CancellationTokenSource();
        var flusher = Task.Run(() => FlushLoopAsync(context, stopFlusher.Token), CancellationToken.None);
        var delay = _options.MinReconnectDelay;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                bool received = false;
                try
                {
                    await StreamOnceAsync(context, () => received = true).ConfigureAwait(false);
                    if (received) delay = _options.MinReconnectDelay;
                    context.Warn($"The server ended the WAL stream (a shutdown or the end of a timeline); reconnecting in {delay.TotalSeconds:F0} s.");
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (_fatal is null && !IsFatal(e))
                {
                    if (received) delay = _options.MinReconnectDelay;
                    context.Warn($"WAL stream interrupted ({e.GetBaseException().Message.ReplaceLineEndings(" ")}); flushing what was received and reconnecting in {delay.TotalSeconds:F0} s.");
                }
                finally
                {
                    _replication = null;
                }
                if (_fatal is not null) break;
                await SafeFlushAsync(context).ConfigureAwait(false);
                if (_fatal is not null) break;
                try { await Task.Delay(delay, ct).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
            }
        }
        finally
        {
            stopFlusher.Cancel();
            await flusher.ConfigureAwait(false);
        }
        if (_fatal is not null) throw _fatal;
        // A clean stop: everything received is made durable first.
        await FlushAsync(context, CancellationToken.None).ConfigureAwait(false);
        return await WriteStateAsync(CancellationToken.None).ConfigureAwait(false);
    }

    private static bool IsFatal(Exception e) => e switch
    {
        WalConflictException or WalWrongClusterException => true,
        PgBackupException p => p.Kind is FailureKind.InvalidArgument or FailureKind.InvalidData or FailureKind.NotFound,
        // 58P01: the WAL to resume from was removed (a gap no retry can close); 42704: no such slot; 28xxx: authentication.
        PostgresException p => p.SqlState is "58P01" or "42704" or "28000" or "28P01" or "42501",
        _ => false,
    };

    private async Task StreamOnceAsync(OperationContext context, Action onData)
    {
        var ct = context.CancellationToken;
        var builder = new NpgsqlConnectionStringBuilder(_connection.ToNpgsqlConnectionString(_options.ApplicationNameFor(_archive.Stanza)));
        await using var replication = new PhysicalReplicationConnection(builder.ConnectionString);
        replication.WalReceiverStatusInterval = TimeSpan.FromSeconds(10);
        await replication.Open(ct).ConfigureAwait(false);
        var system = await replication.IdentifySystem(ct).ConfigureAwait(false);
        _systemIdentifier = system.SystemId.ToString(CultureInfo.InvariantCulture);
        var binding = await _archive.ReadBindingAsync(ct).ConfigureAwait(false);
        if (binding is not null && binding.SystemIdentifier != _systemIdentifier)
            throw new WalWrongClusterException($"The server {_connection.Server} is the cluster {_systemIdentifier}, but stanza '{_archive.Stanza}' of {_archive.Repository.Store.Location} archives the cluster {binding.SystemIdentifier}. Stream it into its own stanza (-Stanza).", _archive.Stanza);
        _segmentSize = binding?.WalSegmentSize ?? ParseSize(await replication.Show("wal_segment_size", ct).ConfigureAwait(false));

        PhysicalReplicationSlot? slot = null;
        if (_options.Slot is { } slotName)
        {
            slot = await replication.ReadReplicationSlot(slotName, ct).ConfigureAwait(false);
            if (slot is null)
            {
                if (!_options.CreateSlot)
                    throw new PgBackupException(FailureKind.NotFound, $"The replication slot '{slotName}' does not exist on {_connection.Server}. Add -CreateSlot to create it.", slotName);
                await replication.CreateReplicationSlot(slotName, isTemporary: false, reserveWal: true, ct).ConfigureAwait(false);
                slot = await replication.ReadReplicationSlot(slotName, ct).ConfigureAwait(false);
                context.Log($"Created the physical replication slot '{slotName}' at {slot?.RestartLsn}.");
            }
        }

        // Where to resume: what this run made durable; else the slot (it never passes what the repository holds);
        // else the stream's last confirmed position in the repository; else the server's current position.
        ulong resume;
        uint knownTimeline;
        lock (_gate) (resume, knownTimeline) = (_durable, _durableTimeline);
        if (resume == 0 && slot?.RestartLsn is { } restart && (ulong)restart != 0) (resume, knownTimeline) = ((ulong)restart, slot.RestartTimeline ?? 0);
        if (resume == 0 && await WalStreamState.ReadAsync(_archive, ct).ConfigureAwait(false) is { FlushLsn.Length: > 0 } state) (resume, knownTimeline) = (Lsn.Parse(state.FlushLsn), state.Timeline);
        if (resume == 0) resume = (ulong)system.XLogPos;

        var (timeline, begins) = await TimelineOfAsync(replication, (uint)system.Timeline, resume, context).ConfigureAwait(false);
        // The stream went on along a timeline past the point where the server's current one forked from it (the
        // promoted standby had received less): the new timeline is streamed from its own beginning.
        if (knownTimeline != 0 && knownTimeline < timeline && begins < resume) resume = begins;
        // Always from the segment's start: the segment is assembled whole in memory (its .partial is rewritten from it),
        // and on a new timeline the segment holding the switch point begins with the old timeline's bytes.
        ulong start = resume - resume % (ulong)_segmentSize;
        context.Log($"Streaming WAL from {Lsn.Format(start)} on timeline {timeline} of {_connection.Server} (system {_systemIdentifier}) into stanza '{_archive.Stanza}'{(slot is null ? " without a slot" : $" with slot '{slot.Name}'")}.");

        lock (_gate)
        {
            // A fresh connection restarts the open segment from its first byte; what was received of it is flushed already.
            if (_current is not null && _current.Received > _current.Flushed) _ready.Enqueue(_current);
            _current = null;
        }
        _replication = replication;
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 17);
        try
        {
            var messages = slot is null
                ? replication.StartReplication(new NpgsqlLogSequenceNumber(start), ct, timeline)
                : replication.StartReplication(slot, new NpgsqlLogSequenceNumber(start), ct, timeline);
            await foreach (var message in messages.ConfigureAwait(false))
            {
                ulong lsn = (ulong)message.WalStart;
                Volatile.Write(ref _serverLsn, Math.Max((ulong)message.WalEnd, lsn));
                while (true)
                {
                    int read = await message.Data.ReadAsync(buffer, ct).ConfigureAwait(false);
                    if (read == 0) break;
                    Append(timeline, lsn, buffer.AsSpan(0, read));
                    lsn += (ulong)read;
                }
                onData();
                if (_options.Synchronous) _wake.Release();
                if (_fatal is not null) throw _fatal;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The timeline <paramref name="lsn"/> belongs to in the server's history, and where that timeline begins (0 for
    /// the first); archives the current timeline's history file, which recovery needs to follow the switch.
    /// </summary>
    private async Task<(uint Timeline, ulong Begins)> TimelineOfAsync(PhysicalReplicationConnection replication, uint current, ulong lsn, OperationContext context)
    {
        if (current == 1) return (1, 0);
        var (fileName, content) = await ReadTimelineHistoryAsync(replication, current, context.CancellationToken).ConfigureAwait(false);
        await _archive.PushBytesAsync(WalFileName.Parse(fileName), content, _options.Push, context).ConfigureAwait(false);
        ulong begins = 0;
        foreach (var line in System.Text.Encoding.UTF8.GetString(content).Split('\n'))
        {
            var fields = line.Trim().Split('\t', ' ');
            if (fields.Length < 2 || line.TrimStart().StartsWith('#') || !uint.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var parent)) continue;
            ulong switchpoint = Lsn.Parse(fields[1]);
            if (lsn < switchpoint) return (parent, begins);
            begins = switchpoint;
        }
        return (current, begins);
    }

    private static async Task<(string FileName, byte[] Content)> ReadTimelineHistoryAsync(PhysicalReplicationConnection replication, uint timeline, CancellationToken ct)
    {
        try
        {
            var history = await replication.TimelineHistory(timeline, ct).ConfigureAwait(false);
            return (history.FileName, history.Content);
        }
        catch (InvalidCastException)
        {
            // Npgsql 9 takes the content column for bytea; PostgreSQL (15 here) sends it as text. Read the row itself.
            var row = await ReadSingleRow(replication, "TIMELINE_HISTORY " + timeline.ToString(CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
            return ((string)row[0], row[1] switch
            {
                byte[] bytes => bytes,
                string text => System.Text.Encoding.UTF8.GetBytes(text),
                _ => throw new PgBackupException(FailureKind.OperationFailed, $"TIMELINE_HISTORY {timeline} returned no content.", null),
            });
        }
    }

    [System.Runtime.CompilerServices.UnsafeAccessor(System.Runtime.CompilerServices.UnsafeAccessorKind.Method, Name = "ReadSingleRow")]
    private static extern Task<object[]> ReadSingleRow(ReplicationConnection connection, string command, CancellationToken cancellationToken);

    private static long ParseSize(string text)
    {
        text = text.Trim();
        long unit = text.EndsWith("GB", StringComparison.Ordinal) ? 1L << 30 : text.EndsWith("MB", StringComparison.Ordinal) ? 1L << 20 : text.EndsWith("kB", StringComparison.Ordinal) ? 1L << 10 : 1;
        return long.Parse(text.TrimEnd('G', 'M', 'k', 'B'), CultureInfo.InvariantCulture) * unit;
    }

    /// <summary>Copies streamed bytes into the segment they belong to; a completed segment is queued for its push.</summary>
    private void Append(uint timeline, ulong lsn, ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            while (!data.IsEmpty)
            {
                ulong segno = lsn / (ulong)_segmentSize;
                int offset = (int)(lsn % (ulong)_segmentSize);
                if (_current is null || _current.Timeline != timeline || _current.SegmentNumber != segno)
                {
                    if (_current is not null) _ready.Enqueue(_current); // a timeline ended mid-segment: its partial stays
                    if (offset != 0)
                        throw new PgBackupException(FailureKind.OperationFailed, $"The server sent WAL from {Lsn.Format(lsn)}, in the middle of a segment the stream has not begun.", null);
                    _current = new SegmentBuffer(timeline, segno, WalFileName.Parse(WalFileName.SegmentFileName(timeline, segno, _segmentSize)), new byte[_segmentSize]);
                }
                if (offset > _current.Received)
                    throw new PgBackupException(FailureKind.OperationFailed, $"The server sent WAL from {Lsn.Format(lsn)} but the stream holds {_current.Name} only up to offset {_current.Received}: a gap.", null);
                int skip = _current.Received - offset; // bytes sent again (never different: WAL below the flush point does not change)
                int n = (int)Math.Min(data.Length, _segmentSize - offset);
                if (skip < n)
                {
                    data.Slice(skip, n - skip).CopyTo(_current.Data.AsSpan(_current.Received));
                    _current.Received = offset + n;
                }
                if (_current.Received == _segmentSize)
                {
                    _ready.Enqueue(_current);
                    _current = null;
                }
                lsn += (ulong)n;
                data = data[n..];
            }
        }
    }

    private async Task FlushLoopAsync(OperationContext context, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_options.Synchronous ? TimeSpan.FromMilliseconds(200) : _options.FlushInterval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            while (_wake.CurrentCount > 0) _wake.Wait(0); // one flush covers every message received so far
            await SafeFlushAsync(context).ConfigureAwait(false);
            if (_fatal is not null) return;
        }
    }

    private async Task SafeFlushAsync(OperationContext context)
    {
        try
        {
            await FlushAsync(context, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (IsFatal(e))
        {
            _fatal = e;
        }
        catch (Exception e)
        {
            // The repository is unreachable for now: nothing is confirmed to the server, the next flush tries again.
            context.Warn($"Could not write streamed WAL into {_archive.Repository.Store.Location}: {e.Message.ReplaceLineEndings(" ")}. Retrying.");
        }
    }

    /// <summary>
    /// Makes everything received durable: queued complete segments pushed (and their partials removed), then the open
    /// segment's partial rewritten; then the new durable position is confirmed to the server and stream.json written.
    /// </summary>
    private async Task FlushAsync(OperationContext context, CancellationToken ct)
    {
        await _flushLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ulong durable;
            uint durableTimeline;
            lock (_gate) { durable = _durable; durableTimeline = _durableTimeline; }
            ulong before = durable;
            while (true)
            {
                SegmentBuffer? next;
                lock (_gate) next = _ready.Count > 0 ? _ready.Peek() : null;
                if (next is null) break;
                int received = next.Received;
                if (received == _segmentSize)
                {
                    await _archive.PushBytesAsync(next.Name, next.Data, _options.Push, context).ConfigureAwait(false);
                    await _archive.DeletePartialAsync(next.Name, ct).ConfigureAwait(false);
                    context.Log($"Streamed {next.Name} into the archive.");
                }
                long stored = received;
                if (received < _segmentSize && received > next.Flushed)
                    stored = await WritePartialAsync(next, received, ct).ConfigureAwait(false);
                next.Flushed = received;
                (durable, durableTimeline) = Advance(durable, durableTimeline, next, stored);
                lock (_gate) _ready.Dequeue();
            }
            SegmentBuffer? current;
            int currentReceived;
            lock (_gate) { current = _current; currentReceived = current?.Received ?? 0; }
            if (current is not null && currentReceived > current.Flushed)
            {
                long stored = await WritePartialAsync(current, currentReceived, ct).ConfigureAwait(false);
                (durable, durableTimeline) = Advance(durable, durableTimeline, current, stored);
            }
            if (durable == before) return;
            lock (_gate) { _durable = durable; _durableTimeline = durableTimeline; }
            if (_replication is { } replication)
            {
                replication.SetReplicationStatus(new NpgsqlLogSequenceNumber(durable));
                try { await replication.SendStatusUpdate(ct).ConfigureAwait(false); }
                catch (Exception e) when (e is InvalidOperationException or NpgsqlException or ObjectDisposedException) { /* not streaming now: the next connection confirms */ }
            }
            await WriteStateAsync(ct).ConfigureAwait(false);
            Progress?.Report(new WalStreamProgress("flushed", durableTimeline, Volatile.Read(ref _serverLsn), durable, current?.Name.Name, $"durable through {Lsn.Format(durable)} on timeline {durableTimeline}"));
        }
        finally
        {
            _flushLock.Release();
        }
    }

    private (ulong, uint) Advance(ulong durable, uint timeline, SegmentBuffer segment, long stored)
    {
        ulong end = segment.SegmentNumber * (ulong)_segmentSize + (ulong)stored;
        // On a new timeline the position goes on from the switch point; on one timeline it only grows.
        return segment.Timeline > timeline || (segment.Timeline == timeline && end > durable) ? (end, segment.Timeline) : (durable, timeline);
    }

    /// <summary>
    /// Rewrites a segment's partial, unless the repository already holds at least as many bytes of it: after a
    /// reconnect or a restart the segment is received again from its start, and a shorter partial must never replace a
    /// longer one (its bytes may already have been confirmed to the server). Returns the bytes stored.
    /// </summary>
    private async Task<long> WritePartialAsync(SegmentBuffer segment, int received, CancellationToken ct)
    {
        if (segment.PartialChecked && received <= segment.Stored) return segment.Stored;
        long stored = await _archive.WritePartialAsync(segment.Name, segment.Data.AsMemory(0, received), _options.Push,
            checkExisting: !segment.PartialChecked, ct).ConfigureAwait(false);
        segment.PartialChecked = true;
        segment.Flushed = received;
        segment.Stored = stored;
        return stored;
    }

    private async Task<WalStreamState> WriteStateAsync(CancellationToken ct)
    {
        var (durable, timeline) = Durable;
        var state = new WalStreamState
        {
            FlushLsn = Lsn.Format(durable),
            Timeline = timeline,
            Segment = durable == 0 ? null : WalFileName.SegmentFileName(timeline, durable / (ulong)_segmentSize, _segmentSize),
            SystemIdentifier = _systemIdentifier,
            Updated = DateTimeOffset.UtcNow,
            ServerLsn = Volatile.Read(ref _serverLsn) is var s and > 0 ? Lsn.Format(s) : null,
            Slot = _options.Slot,
            ApplicationName = _options.ApplicationNameFor(_archive.Stanza),
            Synchronous = _options.Synchronous,
            Server = _connection.Server,
            HostName = Environment.MachineName,
            ProcessId = Environment.ProcessId,
        };
        if (durable != 0) await state.WriteAsync(_archive, ct).ConfigureAwait(false);
        return state;
    }

    private sealed class SegmentBuffer(uint timeline, ulong segmentNumber, WalFileName name, byte[] data)
    {
        public uint Timeline { get; } = timeline;
        public ulong SegmentNumber { get; } = segmentNumber;
        public WalFileName Name { get; } = name;
        public byte[] Data { get; } = data;
        /// <summary>Bytes received from the segment's start (written under the receiver's lock; bytes below never change).</summary>
        public int Received { get; set; }
        /// <summary>Bytes durable in the repository.</summary>
        public int Flushed { get; set; }
        public bool PartialChecked { get; set; }
        /// <summary>Bytes of its partial the repository holds (may be more than Flushed after a restart).</summary>
        public long Stored { get; set; }
    }
}
