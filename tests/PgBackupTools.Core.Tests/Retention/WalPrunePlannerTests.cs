using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Tests.Retention;

/// <summary>
/// The WAL a policy run deletes, from a catalog of physical backups on two timelines and an archive with history
/// files, .backup labels, a .partial, a gap and an abandoned branch.
/// </summary>
public class WalPrunePlannerTests
{
    private const long SegmentSize = 16 << 20;

    // Timeline 1: segments 1..10 (4 missing), B1's label at 3, B2's at 8, the .partial the promotion to 2 left at 0A.
    // Timeline 2 (from 1 at 0/A000100): 0A..10, B3's label at 0C, a streamed .partial at 11 (newer than any cut).
    // Timeline 3 (from 1 at 0/5000100): an abandoned PITR drill, segments 5..6.
    private static List<(WalFileName, StoredObjectInfo)> Archived()
    {
        var names = new List<string>();
        foreach (var seg in new[] { 1, 2, 3, 5, 6, 7, 8, 9, 10 }) names.Add(Seg(1, seg));
        names.Add(Seg(1, 3) + ".00000028.backup");
        names.Add(Seg(1, 8) + ".00000060.backup");
        names.Add(Seg(1, 10) + ".partial");
        for (int seg = 10; seg <= 16; seg++) names.Add(Seg(2, seg));
        names.Add(Seg(2, 12) + ".00000028.backup");
        names.Add(Seg(2, 17) + ".partial");
        names.Add(Seg(3, 5));
        names.Add(Seg(3, 6));
        names.AddRange(["00000002.history", "00000003.history"]);
        return names.Select(n => WalFileName.Parse(n))
            .Select(n => (n, new StoredObjectInfo($"wal/main/{n.TimelineDirectory}/{n.Name}.zst", 1000, DateTimeOffset.UnixEpoch)))
            .OrderBy(f => f.Item2.Key, StringComparer.Ordinal).ToList();
    }

    private static string Seg(uint timeline, int segment) => WalFileName.SegmentFileName(timeline, (ulong)segment, SegmentSize);

    private static PgBackup Physical(string id, uint timeline, string startLsn) => new()
    {
        Id = id, Type = BackupType.Physical, Stanza = "main", Timeline = timeline, StartLsn = startLsn,
        StartWalSegment = WalFileName.SegmentFileName(timeline, Core.Backup.Lsn.Parse(startLsn) / SegmentSize, SegmentSize),
    };

    private static readonly PgBackup B2 = Physical("B2", 1, "0/8000060");
    private static readonly PgBackup B3 = Physical("B3", 2, "0/C000028");
    private static readonly PgBackup Logical = new() { Id = "L", Type = BackupType.Logical, Stanza = "main", Database = "app" };

    [Fact]
    public void Kept_backups_on_two_timelines_cut_at_the_oldest_start_and_keep_every_history_file()
    {
        var plan = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [Logical, B2, B3]);

        Assert.Equal("B2", plan.OldestKept!.Id);
        Assert.Equal(Seg(1, 8), plan.KeepFrom);
        Assert.Equal(
            [Seg(1, 1), Seg(1, 2), Seg(1, 3), Seg(1, 3) + ".00000028.backup", Seg(1, 5), Seg(1, 6), Seg(1, 7), Seg(3, 5), Seg(3, 6)],
            plan.Files.Select(f => f.Name.Name).Order(StringComparer.Ordinal));
        // Oldest position first; the gap at 4 splits timeline 1; one range per contiguous run per timeline.
        Assert.Equal(
            [$"{Seg(1, 1)}..{Seg(1, 3)} 4", $"{Seg(1, 5)}..{Seg(1, 7)} 3", $"{Seg(3, 5)}..{Seg(3, 6)} 2"],
            plan.Ranges.Select(r => $"{r.First}..{r.Last} {r.Files.Count}"));
        // Within a range, oldest first.
        Assert.Equal([Seg(1, 1), Seg(1, 2), Seg(1, 3), Seg(1, 3) + ".00000028.backup"], plan.Ranges[0].Files.Select(f => f.Name.Name));
        Assert.Equal($"Remove WAL {Seg(1, 1)}..{Seg(1, 3)} (4 files) from stanza main", plan.Ranges[0].Describe("main"));
        Assert.Equal("wal/main/00000001/000000010000000000000001.zst", plan.Ranges[0].Files[0].Key);
    }

    [Fact]
    public void When_only_a_backup_on_the_later_timeline_is_kept_the_ancestor_timeline_before_its_start_goes_too()
    {
        var plan = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [B3]);

        Assert.Equal(Seg(2, 12), plan.KeepFrom);
        Assert.Equal(
            [$"{Seg(1, 1)}..{Seg(1, 3)} 4", $"{Seg(1, 5)}..{Seg(1, 10)} 8", $"{Seg(3, 5)}..{Seg(3, 6)} 2", $"{Seg(2, 10)}..{Seg(2, 11)} 2"],
            plan.Ranges.Select(r => $"{r.First}..{r.Last} {r.Files.Count}"));
        var deleted = plan.Files.Select(f => f.Name.Name).ToHashSet();
        Assert.Contains(Seg(1, 10) + ".partial", deleted);
        Assert.Contains(Seg(1, 8) + ".00000060.backup", deleted);
        // B3's own label, its start segment, the streamed .partial beyond the cut and every history file stay.
        foreach (var kept in new[] { Seg(2, 12), Seg(2, 12) + ".00000028.backup", Seg(2, 17) + ".partial", "00000002.history", "00000003.history" })
            Assert.DoesNotContain(kept, deleted);
    }

    [Fact]
    public void Without_a_kept_physical_backup_no_WAL_is_pruned_and_the_plan_says_why()
    {
        var plan = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [Logical]);
        Assert.Empty(plan.Ranges);
        Assert.Contains("no kept physical backup", plan.Explanation);
        Assert.Empty(plan.Warnings); // a dumps-only stanza is normal, not worth a warning on every retention run
    }

    [Fact]
    public void A_kept_physical_backup_of_another_stanza_protects_nothing_here_and_prunes_nothing_either()
    {
        var other = Physical("X", 1, "0/9000028");
        other.Stanza = "replica";
        Assert.Empty(WalPrunePlanner.Plan("main", Archived(), SegmentSize, [other]).Ranges);
    }

    [Fact]
    public void A_kept_backup_whose_WAL_needs_are_unknown_or_inconsistent_stops_the_prune()
    {
        var noLsn = Physical("N", 1, "0/9000028");
        noLsn.StartLsn = null;
        var unknown = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [B3, noLsn]);
        Assert.Empty(unknown.Ranges);
        Assert.Contains("records no start LSN", unknown.Explanation);
        Assert.Equal([unknown.Explanation], unknown.Warnings); // a refusal is said out loud: the archive would grow unseen

        var snapshot = new PgBackup { Id = "S", Type = BackupType.Snapshot, Stanza = "main" };
        Assert.Empty(WalPrunePlanner.Plan("main", Archived(), SegmentSize, [B3, snapshot]).Ranges);

        // A start segment that does not match the archive's segment size: the archive belongs to something else.
        var mismatch = WalPrunePlanner.Plan("main", Archived(), 64 << 20, [B3]);
        Assert.Empty(mismatch.Ranges);
        Assert.Contains("67108864-byte segments", mismatch.Explanation);
        Assert.Equal([mismatch.Explanation], mismatch.Warnings);
    }

    [Fact]
    public void Nothing_older_than_the_oldest_kept_start_means_nothing_to_delete()
    {
        var plan = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [Physical("B0", 1, "0/1000028"), B3]);
        Assert.Empty(plan.Ranges);
        Assert.Contains("nothing older", plan.Explanation);
    }

    private static BackupInProgressMarker Running(string id, uint timeline, string startLsn) => new()
    {
        BackupId = id, Stanza = "main", Type = BackupType.Physical, Phase = BackupInProgressMarker.RunningPhase, StartLsn = startLsn, Timeline = timeline,
        StartWalSegment = WalFileName.SegmentFileName(timeline, Core.Backup.Lsn.Parse(startLsn) / SegmentSize, SegmentSize),
        Host = "db1", Pid = 4242, StartedAt = DateTimeOffset.UnixEpoch, HeartbeatAt = DateTimeOffset.UnixEpoch, HeartbeatSeconds = 60,
    };

    [Fact]
    public void A_running_backup_that_started_before_every_kept_backup_holds_the_WAL_from_its_start_and_is_named()
    {
        var plan = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [B2, B3], [Running("R", 1, "0/5000028")]);

        Assert.Equal("B2", plan.OldestKept!.Id);
        Assert.Equal("R", plan.HeldBy!.BackupId);
        Assert.Equal("R", plan.KeptFor);
        Assert.Equal(Seg(1, 5), plan.KeepFrom);
        Assert.Equal([Seg(1, 1), Seg(1, 2), Seg(1, 3), Seg(1, 3) + ".00000028.backup"], plan.Files.Select(f => f.Name.Name).Order(StringComparer.Ordinal));
        Assert.Contains("backup R in progress", plan.Explanation);
        Assert.Contains("db1", plan.Explanation);
        Assert.EndsWith($"WAL from {Seg(1, 5)} stays for the physical backup R in progress (started 1970-01-01 00:00:00Z on db1, pid 4242, start LSN 0/5000028)", plan.Describe(plan.Ranges[0]));
    }

    [Fact]
    public void A_running_backup_newer_than_the_oldest_kept_one_changes_nothing()
    {
        var without = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [B2, B3]);
        var with = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [B2, B3], [Running("R", 2, "0/D000028"), Running("Other", 1, "0/1000028") with { Stanza = "other" }]);

        Assert.Null(with.HeldBy);
        Assert.Equal("B2", with.KeptFor);
        Assert.Equal(without.Files.Select(f => f.Key), with.Files.Select(f => f.Key));
        Assert.Equal(without.Explanation, with.Explanation);
    }

    [Fact]
    public void A_running_backup_alone_never_lets_a_prune_happen_and_an_inconsistent_marker_stops_it()
    {
        Assert.Empty(WalPrunePlanner.Plan("main", Archived(), SegmentSize, [Logical], [Running("R", 1, "0/C000028")]).Ranges);

        var wrongSegment = Running("R", 1, "0/5000028") with { StartWalSegment = Seg(1, 9) };
        var plan = WalPrunePlanner.Plan("main", Archived(), SegmentSize, [B2], [wrongSegment]);
        Assert.Empty(plan.Ranges);
        Assert.Contains("The backup R in progress records its start segment", plan.Explanation);
    }
}
