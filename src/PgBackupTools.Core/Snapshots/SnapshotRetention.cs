namespace PgBackupTools.Core.Snapshots;

/// <summary>One snapshot set (the snapshots sharing a pgbt-backup-id tag) and whether a retention policy keeps it.</summary>
public sealed record SnapshotSetDecision(string BackupId, IReadOnlyList<PgVolumeSnapshot> Snapshots, bool Keep, string Reason);

/// <summary>
/// The seed's snapshot retention, made safe: sets older than the window go, but the newest complete set always stays
/// (so a stopped backup schedule never ends with nothing), and so does every set not yet completed.
/// </summary>
public static class SnapshotRetention
{
    public static IReadOnlyList<SnapshotSetDecision> Plan(IEnumerable<PgVolumeSnapshot> snapshots, int retentionDays, DateTimeOffset now)
    {
        var cutoff = now.AddDays(-retentionDays);
        var sets = snapshots.Where(s => !string.IsNullOrEmpty(s.BackupId))
            .GroupBy(s => s.BackupId!, StringComparer.Ordinal)
            .Select(g => (Id: g.Key, Snapshots: (IReadOnlyList<PgVolumeSnapshot>)g.OrderBy(s => s.VolumeId, StringComparer.Ordinal).ToList(), Start: g.Min(s => s.StartTime)))
            .OrderByDescending(g => g.Start).ThenByDescending(g => g.Id, StringComparer.Ordinal).ToList();
        string? newestComplete = sets.FirstOrDefault(s => s.Snapshots.All(x => x.Completed)).Id;
        return sets.Select(s =>
        {
            if (s.Id == newestComplete) return new SnapshotSetDecision(s.Id, s.Snapshots, true, "the newest complete set is always kept");
            if (!s.Snapshots.All(x => x.Completed) && !s.Snapshots.Any(x => x.Failed)) return new SnapshotSetDecision(s.Id, s.Snapshots, true, "still completing");
            if (s.Start >= cutoff) return new SnapshotSetDecision(s.Id, s.Snapshots, true, $"within {retentionDays} days");
            return new SnapshotSetDecision(s.Id, s.Snapshots, false, $"older than {retentionDays} days (started {s.Start.UtcDateTime:u})");
        }).ToList();
    }
}
