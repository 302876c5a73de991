using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Retention;

/// <summary>One archived WAL object a prune deletes.</summary>
public sealed record WalPruneFile(WalFileName Name, string Key, long StoredBytes);

/// <summary>Contiguous archived WAL on one timeline that a prune deletes, oldest file first.</summary>
public sealed record WalPruneRange(uint Timeline, ulong FirstSegmentNumber, string First, string Last, IReadOnlyList<WalPruneFile> Files)
{
    public int Segments => Files.Count(f => f.Name.Kind == WalFileKind.Segment);
    public long StoredBytes => Files.Sum(f => f.StoredBytes);

    /// <summary>What -WhatIf and -Confirm show, and -Verbose repeats once it is done.</summary>
    public string Describe(string stanza) => $"Remove WAL {First}..{Last} ({Files.Count} files) from stanza {stanza}";
}

/// <summary>
/// What a prune of one stanza's WAL archive deletes, and why. <see cref="Ranges"/> is empty when nothing can go or
/// nothing may: <see cref="Explanation"/> then says which (no kept physical backup, an unreadable manifest, ...).
/// </summary>
public sealed record WalPrunePlan(string Stanza, PgBackup? OldestKept, string? KeepFrom, IReadOnlyList<WalPruneRange> Ranges, string Explanation)
{
    public static WalPrunePlan Nothing(string stanza, string explanation) => new(stanza, null, null, [], explanation);

    /// <summary>
    /// Nothing is pruned because a record is damaged or inconsistent: unlike "nothing to prune", the operator must hear
    /// it (as a warning), or the archive grows until the disk is full with nobody knowing why.
    /// </summary>
    public static WalPrunePlan Refused(string stanza, string explanation) => Nothing(stanza, explanation) with { Warnings = [explanation] };

    /// <summary>The backup in progress whose start is <see cref="KeepFrom"/>, when it starts before every kept backup.</summary>
    public BackupInProgressMarker? HeldBy { get; init; }

    /// <summary>The id of the backup (kept, or in progress) whose start WAL is <see cref="KeepFrom"/>.</summary>
    public string? KeptFor => HeldBy?.BackupId ?? OldestKept?.Id;

    /// <summary>What the operator must hear about: in-progress markers ignored as abandoned, or why nothing may be pruned.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>What -WhatIf and -Confirm show for <paramref name="range"/>: with the backup in progress that keeps the newer WAL, when there is one.</summary>
    public string Describe(WalPruneRange range) =>
        range.Describe(Stanza) + (HeldBy is { } running ? $"; WAL from {KeepFrom} stays for {running.Describe()}" : "");

    public IEnumerable<WalPruneFile> Files => Ranges.SelectMany(r => r.Files);
}

/// <summary>
/// Chooses the archived WAL of a stanza that no kept backup needs. A restore of a physical backup replays WAL from
/// its start LSN (the checkpoint's redo point) onwards, along its own timeline and whichever later timeline
/// recovery follows; WAL positions only grow along any line of timelines, so nothing a kept backup can replay lies
/// before the start segment of the oldest kept one. The cut is that segment number, on every timeline:
/// segments, .partial and .backup files before it go; everything at or after it stays, whatever its timeline
/// (an abandoned branch beyond the cut costs space, never a restore).
/// History files all stay: they are tiny, a kept timeline's history names its ancestors, and PostgreSQL chooses a
/// new timeline ID by probing the archive for the first missing .history file, so removing one could make a later
/// promotion reuse a timeline ID that still has WAL.
/// When anything is unclear (a kept physical or snapshot backup without a start LSN or timeline, a start segment
/// that does not match the archive's segment size) nothing is deleted.
/// A physical or snapshot backup that is still running has no manifest yet, only its in-progress marker
/// (<see cref="BackupInProgressMarker"/>): each live one counts like a kept backup starting where it says (it can only
/// hold WAL back, never let a prune happen without a kept backup). Why a backup that starts while a prune runs is safe
/// is told at <see cref="WalPruner.PlanAsync"/>.
/// </summary>
public static class WalPrunePlanner
{
    public static WalPrunePlan Plan(string stanza, IEnumerable<(WalFileName Name, StoredObjectInfo Object)> archived, long segmentSize, IEnumerable<PgBackup> keptBackups,
        IEnumerable<BackupInProgressMarker>? running = null)
    {
        var kept = keptBackups.Where(b => b.Stanza == stanza && b.Type is BackupType.Physical or BackupType.Snapshot).ToList();
        if (kept.Count == 0)
            return WalPrunePlan.Nothing(stanza, $"Stanza '{stanza}' has no kept physical backup: no WAL is pruned.");

        PgBackup? oldest = null;
        BackupInProgressMarker? heldBy = null;
        uint cutTimeline = 0;
        ulong cut = ulong.MaxValue, oldestStart = ulong.MaxValue;
        var starts = kept.Select(b => (Backup: (PgBackup?)b, Marker: (BackupInProgressMarker?)null, b.Id, b.StartLsn, b.Timeline, b.StartWalSegment, What: $"Backup {b.Id}"))
            .Concat((running ?? []).Where(m => m.Stanza == stanza)
                .Select(m => (Backup: (PgBackup?)null, Marker: (BackupInProgressMarker?)m, Id: m.BackupId, StartLsn: (string?)m.StartLsn, Timeline: (uint?)m.Timeline,
                    StartWalSegment: (string?)m.StartWalSegment, What: $"The backup {m.BackupId} in progress")));
        foreach (var (backup, marker, id, startLsn, recordedTimeline, startWalSegment, what) in starts)
        {
            if (startLsn is null || recordedTimeline is not uint timeline || timeline == 0)
                return WalPrunePlan.Refused(stanza, $"{what} of stanza '{stanza}' records no start LSN and timeline, so the WAL it needs is unknown: no WAL is pruned.");
            ulong start;
            try
            {
                start = Lsn.Parse(startLsn) / (ulong)segmentSize;
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                return WalPrunePlan.Refused(stanza, $"{what} of stanza '{stanza}' records the start LSN '{startLsn}', which is not an LSN: no WAL is pruned.");
            }
            string startName = WalFileName.SegmentFileName(timeline, start, segmentSize);
            if (startWalSegment is not null && startWalSegment != startName)
                return WalPrunePlan.Refused(stanza,
                    $"{what} records its start segment as {startWalSegment}, but its start LSN {startLsn} is in {startName} with the archive's {segmentSize}-byte segments: no WAL is pruned.");
            if (start < cut || start == cut && timeline < cutTimeline)
            {
                cut = start;
                cutTimeline = timeline;
                heldBy = marker;
            }
            if (backup is not null && (oldest is null || start < oldestStart || start == oldestStart && timeline < oldest.Timeline))
            {
                oldest = backup;
                oldestStart = start;
            }
        }

        string keepFrom = WalFileName.SegmentFileName(cutTimeline, cut, segmentSize);
        var doomed = archived
            .Where(f => f.Name.Kind != WalFileKind.History && f.Name.FitsSegmentSize(segmentSize) && f.Name.SegmentNumber(segmentSize) < cut)
            .Select(f => new WalPruneFile(f.Name, f.Object.Key, f.Object.Size))
            .OrderBy(f => f.Name.Timeline).ThenBy(f => f.Name.SegmentNumber(segmentSize)).ThenBy(f => f.Name.Name, StringComparer.Ordinal)
            .ToList();

        var ranges = new List<WalPruneRange>();
        var current = new List<WalPruneFile>();
        void Close()
        {
            if (current.Count == 0) return;
            var first = current[0].Name;
            ulong firstNumber = first.SegmentNumber(segmentSize);
            ranges.Add(new WalPruneRange(first.Timeline, firstNumber, WalFileName.SegmentFileName(first.Timeline, firstNumber, segmentSize),
                WalFileName.SegmentFileName(first.Timeline, current[^1].Name.SegmentNumber(segmentSize), segmentSize), current));
            current = [];
        }
        foreach (var file in doomed)
        {
            if (current.Count > 0)
            {
                var last = current[^1].Name;
                if (last.Timeline != file.Name.Timeline || file.Name.SegmentNumber(segmentSize) > last.SegmentNumber(segmentSize) + 1) Close();
            }
            current.Add(file);
        }
        Close();
        // Oldest position first, so an interrupted prune leaves every timeline's archive a suffix: never a hole before kept WAL.
        ranges = ranges.OrderBy(r => r.FirstSegmentNumber).ThenBy(r => r.Timeline).ToList();

        string why = heldBy is null
            ? $"the start of backup {oldest!.Id} (the oldest kept physical backup)"
            : $"the start of {heldBy.Describe()}, which is older than the oldest kept backup {oldest!.Id}";
        string explanation = $"Stanza '{stanza}': WAL is kept from {keepFrom}, {why}; " +
            (ranges.Count == 0 ? "nothing older is archived." : $"{doomed.Count} older files in {ranges.Count} range(s) are not needed by any kept or running backup. History files all stay.");
        return new WalPrunePlan(stanza, oldest, keepFrom, ranges, explanation) { HeldBy = heldBy };
    }
}
