using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// The WAL a restore of one base backup will ask restore_command for, worked out from the archive's listing before
/// anything is written: the timeline path (recovery_target_timeline = latest, as PostgreSQL finds it: the highest
/// timeline whose history file follows on from the backup's), the segment each position is read from, the newest
/// segment archived on that path and every missing range between the backup's start and it.
/// <para>
/// Why: PostgreSQL ends recovery at the first segment restore_command cannot deliver and, without a target, promotes
/// there: a restore "to latest" across a hole in the archive silently stops short. The restore refuses that up front.
/// </para>
/// </summary>
public sealed class WalRecoveryPlan
{
    private readonly Dictionary<(uint Timeline, ulong Segment), DateTimeOffset> _archived;
    // Each gap with its first segment and the first LSN it withholds: that segment's start, or for a newer timeline's
    // first segment whose parent's copy is archived, the switch point (PostgreSQL reads the parent's segment up to there).
    private readonly List<(PgWalGap Gap, ulong FirstSegment, ulong FromLsn)> _gaps = [];

    /// <summary>From the backup's timeline to the one recovery ends on, oldest first.</summary>
    public IReadOnlyList<TimelineSpan> Timelines { get; }
    public long SegmentSize { get; }
    /// <summary>The backup's first and last segment (its own WAL, needed by any restore).</summary>
    public ulong StartSegment { get; }
    public ulong StopSegment { get; }
    /// <summary>Where recovery to latest ends: the newest segment archived on the path, at least the first segment of
    /// the newest timeline (null: nothing archived from the backup's start on).</summary>
    public ulong? NewestSegment { get; }
    public uint TargetTimeline => Timelines[^1].Timeline;

    private WalRecoveryPlan(IReadOnlyList<TimelineSpan> timelines, long segmentSize, ulong start, ulong stop, Dictionary<(uint, ulong), DateTimeOffset> archived)
    {
        Timelines = timelines;
        SegmentSize = segmentSize;
        StartSegment = start;
        StopSegment = stop;
        _archived = archived;
        ulong? newest = null;
        foreach (var (tl, seg) in archived.Keys)
            if (seg >= start && TimelineOf(seg) == tl && (newest is null || seg > newest)) newest = seg;
        // A later timeline on the path (its history file is archived) is where recovery to latest goes: at least its
        // first segment, which holds the switch point, must be there, or recovery ends on the parent before the branch.
        if (timelines.Count > 1) newest = Math.Max(newest ?? 0, timelines[^1].Begin / (ulong)segmentSize);
        NewestSegment = newest;

        ulong last = Math.Max(newest ?? stop, stop);
        for (ulong s = start; s <= last; s++)
        {
            if (archived.ContainsKey((TimelineOf(s), s))) continue;
            ulong first = s;
            uint tl = TimelineOf(s);
            while (s + 1 <= last && TimelineOf(s + 1) == tl && !archived.ContainsKey((tl, s + 1))) s++;
            var gap = new PgWalGap(tl, WalFileName.SegmentFileName(tl, first, segmentSize), WalFileName.SegmentFileName(tl, s, segmentSize), (long)(s - first + 1));
            _gaps.Add((gap, first, ParentCopyUntil(first) ?? first * (ulong)segmentSize));
        }
    }

    /// <summary>
    /// For the first segment of a newer timeline on the path (it holds the switch point) whose parent's copy is archived:
    /// the switch point. Recovery asks for the newer timeline's file first and falls back to the parent's, which holds
    /// the same WAL up to the switch point: enough for a restore that ends there (the timeline was just promoted from
    /// this backup and has not archived its first segment yet). Null for any other segment.
    /// </summary>
    private ulong? ParentCopyUntil(ulong segment)
    {
        for (int i = Timelines.Count - 1; i > 0; i--)
            if (Timelines[i].Begin / (ulong)SegmentSize == segment && _archived.ContainsKey((Timelines[i - 1].Timeline, segment)))
                return Timelines[i].Begin;
        return null;
    }

    /// <summary>The timeline recovery reads <paramref name="segment"/> from: the newest on the path that began at or before it.</summary>
    public uint TimelineOf(ulong segment)
    {
        for (int i = Timelines.Count - 1; i > 0; i--)
            if (Timelines[i].Begin / (ulong)SegmentSize <= segment) return Timelines[i].Timeline;
        return Timelines[0].Timeline;
    }

    public ulong SegmentOf(ulong lsn) => lsn / (ulong)SegmentSize;

    public string SegmentName(ulong segment) => WalFileName.SegmentFileName(TimelineOf(segment), segment, SegmentSize);

    /// <summary>
    /// Missing ranges whose first segment is at or before <paramref name="lastSegment"/>; with <paramref name="endLsn"/>
    /// (a restore that stops there), only those withholding WAL before it.
    /// </summary>
    public IReadOnlyList<PgWalGap> GapsThrough(ulong lastSegment, ulong? endLsn = null) =>
        _gaps.Where(g => Needed(g, lastSegment, endLsn)).Select(g => g.Gap).ToList();

    /// <summary>The missing ranges <see cref="GapsThrough"/> leaves out.</summary>
    public IReadOnlyList<PgWalGap> GapsAfter(ulong lastSegment, ulong? endLsn = null) =>
        _gaps.Where(g => !Needed(g, lastSegment, endLsn)).Select(g => g.Gap).ToList();

    private static bool Needed((PgWalGap Gap, ulong FirstSegment, ulong FromLsn) gap, ulong lastSegment, ulong? endLsn) =>
        gap.FirstSegment <= lastSegment && (endLsn is null || gap.FromLsn < endLsn);

    /// <summary>
    /// The first segment on the path from <paramref name="from"/> on that was archived at or after <paramref name="time"/>.
    /// A segment is archived only after every record in it was written, so the WAL of a moment lies at or before it:
    /// a time target needs the archive continuous through that segment (the store's clock is taken as the server's).
    /// </summary>
    public ulong? FirstArchivedAtOrAfter(DateTimeOffset time, ulong from)
    {
        ulong? first = null;
        foreach (var ((tl, seg), modified) in _archived)
            if (seg >= from && modified >= time && TimelineOf(seg) == tl && (first is null || seg < first)) first = seg;
        return first;
    }

    /// <summary>Lists the archive once (and fetches the newest timeline's history file, when there is one).</summary>
    public static async Task<WalRecoveryPlan> BuildAsync(WalArchive archive, uint backupTimeline, ulong startLsn, ulong stopLsn, CancellationToken ct)
    {
        var binding = await archive.ReadBindingAsync(ct).ConfigureAwait(false)
            ?? throw new PgBackupException(FailureKind.NotFound,
                $"Stanza '{archive.Stanza}' of {archive.Repository.Location} has no archived WAL ({archive.BindingKey} is missing): a physical backup cannot be recovered without it.", archive.BindingKey);
        long size = binding.WalSegmentSize;
        var files = await archive.ListAsync(ct).ConfigureAwait(false);
        var histories = files.Where(f => f.Name.Kind == WalFileKind.History).Select(f => f.Name.Timeline).ToHashSet();

        // recovery_target_timeline = latest: PostgreSQL probes backupTimeline+1, +2, ... while a history file exists.
        uint newest = backupTimeline;
        while (histories.Contains(newest + 1)) newest++;
        IReadOnlyList<TimelineSpan> path = [new TimelineSpan(backupTimeline, 0, null)];
        if (newest != backupTimeline)
        {
            var all = TimelineHistory.Parse(newest, await ReadHistoryAsync(archive, newest, ct).ConfigureAwait(false), $"{newest:X8}.history");
            int from = all.ToList().FindIndex(t => t.Timeline == backupTimeline);
            if (from < 0)
                throw new PgBackupException(FailureKind.InvalidData,
                    $"The newest timeline in stanza '{archive.Stanza}' is {newest}, and its history does not descend from timeline {backupTimeline} of this backup: recovery to latest cannot follow it. Restore a backup taken on timeline {newest}'s history, or investigate which cluster archived {newest:X8}.history.", $"{newest:X8}.history");
            if (all[from].End is { } end && end < stopLsn)
                throw new PgBackupException(FailureKind.InvalidData,
                    $"Timeline {all[from + 1].Timeline} branched off timeline {backupTimeline} at {Backup.Lsn.Format(end)}, before this backup became consistent at {Backup.Lsn.Format(stopLsn)}: recovery to latest cannot follow it. Restore a backup taken after {Backup.Lsn.Format(end)}.", $"{newest:X8}.history");
            path = all.Skip(from).ToList();
        }
        var onPath = path.Select(t => t.Timeline).ToHashSet();
        var archived = new Dictionary<(uint, ulong), DateTimeOffset>();
        // A streamed .partial (Start-PgWalStream's open segment) is served by restore_command like a segment, zero-padded.
        foreach (var (name, obj) in files)
            if (name.Kind is WalFileKind.Segment or WalFileKind.Partial && onPath.Contains(name.Timeline))
                archived[(name.Timeline, name.SegmentNumber(size))] = obj.LastModified;
        ulong stopSegment = stopLsn == 0 ? 0 : (stopLsn - 1) / (ulong)size; // the segment holding the last byte of the backup's WAL
        return new WalRecoveryPlan(path, size, startLsn / (ulong)size, Math.Max(stopSegment, startLsn / (ulong)size), archived);
    }

    private static async Task<string> ReadHistoryAsync(WalArchive archive, uint timeline, CancellationToken ct)
    {
        string name = $"{timeline:X8}.history";
        byte[] history = await archive.ReadBytesAsync(WalFileName.Parse(name), ct).ConfigureAwait(false)
            ?? throw new PgBackupException(FailureKind.NotFound, $"{name} vanished from stanza '{archive.Stanza}' while it was read.", name);
        return System.Text.Encoding.UTF8.GetString(history);
    }
}
